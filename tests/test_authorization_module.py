"""Every rule of who may see or do what lives in the authorization module,
`accounts/access.py` (DEVELOPING.md, "Access"): the apps ask its predicates
and `restrict_*` querysets. A rule written out anywhere else leaves two
answers to one question, so this scan fails the build on one.

What counts as a rule written out: reading `.is_staff` or a person's
`.memberships`, filtering on `is_staff`, `memberships__…` or `persona__…`,
and asking Django or django-guardian for permissions (`has_perm`,
`get_objects_for_user`, …). Models (field definitions), demo builders (they
make the rows) and migrations are not rules and are not scanned.
"""

import ast
import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUTHORIZATION_MODULE = Path("accounts/access.py")
NOT_RULES = {"models.py", "demo.py"}
PERMISSION_CALLS = {"has_perm", "has_perms", "get_perms", "get_user_perms", "get_group_perms",
                    "get_objects_for_user", "get_objects_for_group", "get_users_with_perms"}

def app_packages(root: Path) -> list[str]:
    """The project's top-level packages, as import-linter's configuration names them."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["root_packages"]


def _rule_in(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and node.attr in ("is_staff",
                                                                                           "memberships"):
        return f".{node.attr}"
    if isinstance(node, ast.keyword) and node.arg:
        name = node.arg
        if (name == "is_staff" or name.endswith("__is_staff") or "memberships__" in name
                or name.startswith("persona__")):
            return f"filter on {name}"
    if isinstance(node, ast.Call):
        called = getattr(node.func, "attr", getattr(node.func, "id", ""))
        if called in PERMISSION_CALLS:
            return f"{called}()"
    return None


def rules_outside(root: Path) -> list[str]:
    """`path:line: what` for each rule written outside the authorization module."""
    found = []
    for package in app_packages(root):
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if ("migrations" in relative.parts or "__pycache__" in relative.parts or path.name in NOT_RULES
                    or relative == AUTHORIZATION_MODULE):
                continue
            tree = ast.parse(path.read_text(), filename=str(relative))
            for node in ast.walk(tree):
                rule = _rule_in(node)
                if rule:
                    found.append(f"{relative.as_posix()}:{node.lineno}: {rule}")
    return sorted(found)


def test_no_rule_is_written_outside_the_authorization_module():
    assert rules_outside(ROOT) == []


def _write(root: Path, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)


def test_the_scan_finds_each_kind_of_rule_and_only_outside_the_module(tmp_path):
    _write(tmp_path, "pyproject.toml", '[tool.importlinter]\nroot_packages = ["accounts", "stage"]\n')
    rules = (
        "def rules(user, person, organization, Referral, Membership, Organization):\n"
        "    if user.is_staff:\n"                                                       # line 2
        "        return Referral.objects.filter(program__organization__memberships__user=user)\n"  # 3
        "    person.memberships.filter(organization=organization)\n"                   # 4
        "    Membership.objects.filter(persona__in=['program_manager'])\n"             # 5
        "    Organization.objects.filter(users__is_staff=False)\n"                     # 6
        "    get_objects_for_user(user, 'accounts.view_organization')\n"               # 7
        "    return user.has_perm('accounts.view_organization')\n"                     # 8
    )
    _write(tmp_path, "accounts/access.py", rules)          # the authorization module: its place
    _write(tmp_path, "stage/models.py", rules)             # fields, not rules
    _write(tmp_path, "stage/demo.py", rules)               # builds rows, asks nothing
    _write(tmp_path, "stage/migrations/0001_initial.py", rules)
    _write(tmp_path, "stage/selectors.py", rules)          # a rule written out again

    assert rules_outside(tmp_path) == sorted([
        "stage/selectors.py:2: .is_staff",
        "stage/selectors.py:3: filter on program__organization__memberships__user",
        "stage/selectors.py:4: .memberships",
        "stage/selectors.py:5: filter on persona__in",
        "stage/selectors.py:6: filter on users__is_staff",
        "stage/selectors.py:7: get_objects_for_user()",
        "stage/selectors.py:8: has_perm()",
    ])


def test_a_rule_put_back_into_an_app_fails_the_scan(tmp_path):
    """The project's own code, with the agency's referral counts once again
    joined to the person's memberships in the referrals app."""
    for package in app_packages(ROOT):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    selectors = tmp_path / "referrals" / "selectors.py"
    lines = selectors.read_text().splitlines()
    lines.append("def counted_again(user):")
    lines.append("    return Referral.objects.filter(program__organization__memberships__user=user)")
    selectors.write_text("\n".join(lines) + "\n")

    assert set(rules_outside(tmp_path)) == {
        f"referrals/selectors.py:{len(lines)}: filter on program__organization__memberships__user"}
