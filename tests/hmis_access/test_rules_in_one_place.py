"""HMIS access and HMIS accounts hold no rule of who may see or do what
(SPEC §5: every rule is in accounts/access.py) and reach no other app's
models by name: what they need comes by import, downwards, or by
registration."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
APPS = ["hmis_access", "hmis_accounts"]
RULES = re.compile(r"\.is_staff\b|persona__in|memberships__|\.has_perm\(|get_perms\(|get_objects_for_user\(")


def _sources(app):
    return [path for path in sorted((ROOT / app).rglob("*.py")) if "migrations" not in path.parts]


def _findings(pattern, app):
    return [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for path in _sources(app)
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
            if pattern.search(line)]


@pytest.mark.parametrize("app", APPS)
def test_no_rule_of_who_may_outside_the_authorization_module(app):
    assert _findings(RULES, app) == []


def test_the_scan_finds_a_rule_written_in_place(tmp_path):
    (tmp_path / "hmis_access").mkdir()
    (tmp_path / "hmis_access" / "views.py").write_text("staff = request.user.is_staff\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert _findings(RULES, "hmis_access") == ["hmis_access/views.py:1: staff = request.user.is_staff"]
    finally:
        ROOT = saved
