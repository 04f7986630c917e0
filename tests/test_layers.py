"""The stages are layered with no cycle (SPEC §5), checked on every run."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["hmis_portal", "accounts", "onboarding", "training", "hmis_access", "referrals", "partnerships",
            "hmis_accounts"]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--config", "pyproject.toml", "--no-cache"], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_no_stage_imports_a_later_one():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_back_import_breaks_the_build(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # Training asking HMIS access directly, instead of sending its signal.
    (tmp_path / "training" / "shortcut.py").write_text("from hmis_access.services import refresh_for_user\n")

    result = _lint(tmp_path)

    assert result.returncode != 0
    assert "training.shortcut -> hmis_access.services" in result.stdout


def test_nothing_imports_data_partnerships(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # Referrals (beside it in the top layer) reaching into data partnerships.
    (tmp_path / "referrals" / "shortcut.py").write_text("from partnerships.models import IntakeBatch\n")

    result = _lint(tmp_path)

    assert result.returncode != 0
    assert "referrals.shortcut -> partnerships.models" in result.stdout
