"""The home page, an agency's history and its step 3 can be followed by reading
one registry (hmis_portal/core/registry.py): a static walk from
`accounts.views.home` reaches it, and each provider is added there by name in an
app's `ready()`, never found by guessing AppConfig attributes."""

import ast
import inspect
from pathlib import Path

from django.apps import apps

from hmis_portal.core import registry

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accounts", "onboarding", "training", "hmis_access", "hmis_accounts", "referrals", "partnerships"]


def _registry_reads(path: Path, function: str) -> set[str]:
    tree = ast.parse(path.read_text())
    body = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    return {n.attr for n in ast.walk(body)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "registry"}


def _registrations(need: str) -> set[tuple[str, str]]:
    """(module, function) of every `registry.<need>.add/provide(module.function, ...)` in the apps' apps.py."""
    found = set()
    for app in APPS:
        for node in ast.walk(ast.parse((ROOT / app / "apps.py").read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("add", "provide") and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == need and isinstance(node.args[0], ast.Attribute)):
                found.add((f"{app}.{node.args[0].value.id}", node.args[0].attr))
    return found


def test_the_home_page_is_followed_through_the_registry_to_each_provider():
    home = (ROOT / "accounts" / "views.py").read_text()
    assert "from hmis_portal.core.work import open_tasks_for" in home and "open_tasks_for(user)" in home
    assert "open_tasks" in _registry_reads(ROOT / "hmis_portal" / "core" / "work.py", "open_tasks_for")
    static = _registrations("open_tasks")
    live = {(f.__module__, f.__name__) for f in registry.open_tasks}
    assert static == live and {m.split(".")[0] for m, _ in static} == {
        "onboarding", "training", "hmis_access", "hmis_accounts", "referrals", "partnerships"}


def test_history_step_three_and_demo_are_followed_the_same_way():
    assert "agency_history_subjects" in _registry_reads(ROOT / "hmis_portal" / "core" / "audit.py", "agency_history")
    assert "agency_step_three" in _registry_reads(ROOT / "onboarding" / "selectors.py", "progress")
    for need in ("agency_history_subjects", "agency_step_three", "demo_builders", "agency_links"):
        assert _registrations(need) == {(f.__module__, f.__name__) for f in getattr(registry, need)}, need
    assert [f.__module__.split(".")[0] for f in registry.demo_builders][:3] == ["accounts", "onboarding", "training"]


def test_no_app_config_offers_duck_typed_hooks_and_the_core_guesses_none():
    for config in apps.get_app_configs():
        for hook in ("open_tasks", "seed_demo", "agency_history_subjects", "agency_step_three"):
            assert not hasattr(config, hook), (config.label, hook)
    for path in (ROOT / "hmis_portal").rglob("*.py"):
        assert "getattr(config" not in path.read_text(), path
    assert "getattr(config" not in inspect.getsource(__import__("onboarding.selectors").selectors)
