"""Released migrations are frozen: a database that ran a migration never runs
it again, so a change to a shipped migration file reaches new installs only
and the two drift apart. Each file shipped so far is recorded with its SHA-256
in tests/released_migrations.json; new behaviour goes in a new migration."""

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = Path(__file__).with_name("released_migrations.json")


def shipped_migrations(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.glob("**/migrations/[0-9]*.py")) if ".venv" not in path.parts}


def changed_released_migrations(root: Path, record: dict[str, str]) -> list[str]:
    now = shipped_migrations(root)
    return [f"{name}: {'removed' if name not in now else 'changed'} after its release; "
            "leave it as shipped and add a new migration instead"
            for name, digest in sorted(record.items()) if now.get(name) != digest]


def test_no_released_migration_changed_or_disappeared():
    assert changed_released_migrations(ROOT, json.loads(RECORD.read_text())) == []


def test_a_changed_or_removed_migration_is_reported(tmp_path):
    folder = tmp_path / "app" / "migrations"
    folder.mkdir(parents=True)
    (folder / "0001_initial.py").write_text("operations = []\n")
    (folder / "0002_data.py").write_text("operations = []\n")
    record = shipped_migrations(tmp_path)
    assert changed_released_migrations(tmp_path, record) == []

    (folder / "0001_initial.py").write_text("operations = ['edited']\n")
    (folder / "0002_data.py").unlink()

    assert changed_released_migrations(tmp_path, record) == [
        "app/migrations/0001_initial.py: changed after its release; leave it as shipped and add a new migration instead",
        "app/migrations/0002_data.py: removed after its release; leave it as shipped and add a new migration instead"]


def test_migrations_import_no_app_code():
    """A migration runs against the schema of its time; the app's code of today
    may have moved or changed, so what a migration needs is copied into it."""
    import re

    from django.conf import settings

    apps = {path.parent.parent.relative_to(settings.BASE_DIR).parts[0]
            for path in settings.BASE_DIR.glob("**/migrations/__init__.py") if ".venv" not in path.parts}
    offenders = []
    for path in settings.BASE_DIR.glob("**/migrations/0*.py"):
        if ".venv" in path.parts or "node_modules" in path.parts:
            continue
        for module in re.findall(r"^\s*(?:from|import)\s+([\w.]+)", path.read_text(), re.MULTILINE):
            if module.split(".")[0] in apps:
                offenders.append(f"{path.relative_to(settings.BASE_DIR)}: {module}")
    assert len(apps) >= 5
    assert offenders == []
