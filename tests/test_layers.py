"""The stages are layered with no cycle (SPEC §5), checked on every run."""

import ast
import contextlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["hmis_portal", "accounts", "onboarding", "training", "hmis_access", "hmis_accounts", "referrals", "partnerships"]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--config", "pyproject.toml", "--no-cache"], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"}, timeout=120)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """One copy of the apps, their templates and the contracts for every test
    of this module that adds a back door to it: each adds its file, checks,
    and takes it out again (`fed`)."""
    root = tmp_path_factory.mktemp("tree")
    for package in PACKAGES + ["templates"]:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@contextlib.contextmanager
def fed(tree: Path, where: str, text: str):
    """The copy with one more file, `where`, for the block's length."""
    path = tree / where
    path.write_text(text)
    try:
        yield path
    finally:
        path.unlink()


def test_no_stage_imports_a_later_one():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_back_import_breaks_the_build(tree):
    # Training asking HMIS access directly, instead of sending its signal.
    with fed(tree, "training/shortcut.py", "from hmis_access.services import refresh_for_user\n"):
        result = _lint(tree)

    assert result.returncode != 0
    assert "training.shortcut -> hmis_access.services" in result.stdout


def test_nothing_imports_data_partnerships(tree):
    # Referrals (beside it in the top layer) reaching into data partnerships.
    with fed(tree, "referrals/shortcut.py", "from partnerships.models import IntakeBatch\n"):
        result = _lint(tree)

    assert result.returncode != 0
    assert "referrals.shortcut -> partnerships.models" in result.stdout


# --- names of a later stage, by string ---------------------------------------------------------
#
# `lint-imports` sees imports only. A lower app could still reach a higher one
# by name: `apps.get_model("hmis_access", ...)`, a model label
# ("training.cesrole"), a URL name ("partnerships:agency") in code or in a
# template's {% url %}. What a lower stage needs of a higher one comes through
# `hmis_portal.core.registry` instead. The composition root (`hmis_portal/`
# outside its core) wires the apps and may name any of them.

SKIPPED_FOLDERS = {"migrations", "tests", "__pycache__"}


def _layers(root: Path) -> tuple[list[str], dict[str, set[str]]]:
    """The apps, and for each the apps it must not name: those of higher
    layers, its independent siblings ("a | b") and its forbidden modules."""
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c["layers"] for c in config["contracts"] if c.get("type") == "layers")
    levels = [[name.strip() for name in entry.split("|")] for entry in layers]  # top first
    level_of = {name: i for i, names in enumerate(levels) for name in names}
    above = {app: {other for other, j in level_of.items() if j < i or (j == i and other != app)}
             for app, i in level_of.items()}
    for contract in config["contracts"]:
        if contract.get("type") == "forbidden":
            for source in contract["source_modules"]:
                above.setdefault(source, set()).update(contract["forbidden_modules"])
    return list(level_of), above


def _url_names(root: Path, app: str) -> tuple[str | None, set[str]]:
    """The app's URL namespace (app_name), and its URL names when it has none."""
    urls = root / app.replace(".", "/") / "urls.py"
    if not urls.exists():
        return None, set()
    text = urls.read_text()
    namespace = re.search(r"app_name\s*=\s*['\"]([\w-]+)['\"]", text)
    if namespace:
        return namespace.group(1), set()
    return None, set(re.findall(r"name\s*=\s*['\"]([\w-]+)['\"]", text))


def find_back_doors(root: Path, only: set[Path] | None = None) -> list[str]:
    """Every place under `root` where an app names a higher app by string;
    with `only`, of those files alone (found by the same walk of the tree)."""
    from django.apps import apps as registry

    found = []
    names, above = _layers(root)
    label = {name: name.split(".")[-1] for name in names}
    models = {name: {model._meta.model_name for model in registry.get_app_config(label[name]).get_models()}
              for name in names}
    urls = {name: _url_names(root, name) for name in names}
    for app in names:
        higher = above.get(app, set())
        labels = {label[h] for h in higher}
        namespaces = {urls[h][0] for h in higher} - {None}
        base = root / app.replace(".", "/")
        for path in sorted(base.rglob("*.py")):
            relative = path.relative_to(root)
            if SKIPPED_FOLDERS & set(relative.parts) or (only is not None and path not in only):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                where = f"{relative}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "get_model":
                    first = next((a.value for a in node.args if isinstance(a, ast.Constant)), None)
                    if isinstance(first, str) and first.split(".")[0] in labels:
                        found.append(f"{where}: get_model({first!r}) of a higher app")
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    text = node.value
                    match = re.fullmatch(r"([a-z_]+)\.([A-Za-z_]+)", text)
                    if match and match.group(1) in labels and (
                            match.group(2)[:1].isupper()
                            or match.group(2) in models[next(h for h in higher if label[h] == match.group(1))]):
                        found.append(f"{where}: model label {text!r} of a higher app")
                    match = re.fullmatch(r"([\w-]+):[\w-]+", text)
                    if match and match.group(1) in namespaces:
                        found.append(f"{where}: URL name {text!r} of a higher app")
        templates = root / "templates" / label[app]
        for path in sorted(templates.rglob("*.html")) if templates.is_dir() else []:
            if only is not None and path not in only:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                for match in re.finditer(r"\{%\s*url\s+['\"]([\w:-]+)['\"]", line):
                    name = match.group(1)
                    if ":" in name and name.split(":")[0] in namespaces:
                        found.append(f"{path.relative_to(root)}:{number}: template URL {name!r} of a higher app")
    return found


def test_no_app_names_a_higher_one_by_string():
    assert find_back_doors(ROOT) == []


@pytest.mark.parametrize("where, text, finding", [
    ("accounts/shortcut.py", 'from django.apps import apps\nPolicy = apps.get_model("hmis_access", "AccessPolicy")\n',
     "get_model('hmis_access') of a higher app"),
    ("accounts/shortcut.py", 'HISTORY = {"training.cesrole": None}\n', "model label 'training.cesrole'"),
    ("onboarding/shortcut.py", 'URL = "partnerships:agency"\n', "URL name 'partnerships:agency'"),
    ("referrals/shortcut.py", 'ROLE = "training.CESRole"\n', "model label 'training.CESRole'"),
    ("templates/accounts/shortcut.html", "<a href=\"{% url 'onboarding:participation' slug %}\">x</a>\n",
     "template URL 'onboarding:participation'"),
])
def test_a_name_of_a_higher_app_breaks_the_build(tree, where, text, finding):
    # The rest of the tree is clean (test_no_app_names_a_higher_one_by_string):
    # the checker's walk of the copy reads the added file alone.
    with fed(tree, where, text) as path:
        found = find_back_doors(tree, only={path})

    assert len(found) == 1 and found[0].startswith(f"{where}:") and finding in found[0], found


def test_hmis_access_never_imports_hmis_accounts(tree):
    # The grant reaching up into the account's later life, instead of a later
    # stage registering with it.
    with fed(tree, "hmis_access/shortcut.py", "from hmis_accounts.models import ReactivationRequest\n"):
        result = _lint(tree)

    assert result.returncode != 0
    assert "hmis_access.shortcut -> hmis_accounts.models" in result.stdout
