"""Each app's rooms follow one convention: every public function of a
`services.py` takes keyword-only arguments (`def x(*, actor, account)`), so
a call reads as what it passes and a new argument can never shift another."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("hmis_portal", "accounts", "onboarding", "training", "hmis_access", "hmis_accounts", "referrals",
        "partnerships")


def positional(path: Path) -> list[str]:
    """The public functions of a module that take a positional parameter."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            names = [a.arg for a in [*node.args.posonlyargs, *node.args.args]]
            if node.args.vararg is not None:
                names.append("*" + node.args.vararg.arg)
            if names:
                found.append(f"{node.name}({', '.join(names)})")
    return found


def test_services_take_keyword_only_arguments():
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("services.py")):
            name = str(path.relative_to(ROOT))
            found += [f"{name}: {f}" for f in positional(path)]
    assert found == []


def test_the_scan_finds_a_positional_parameter(tmp_path):
    module = tmp_path / "services.py"
    module.write_text("def a(x, *, y): ...\ndef b(*, y): ...\ndef _c(x): ...\ndef d(*args): ...\n"
                      "class E:\n    def f(self, x): ...\n")
    assert positional(module) == ["a(x)", "d(*args)"]
