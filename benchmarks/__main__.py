"""Run every benchmark module in this package, one after the other."""

import importlib
import pkgutil
import sys

import benchmarks


def main() -> int:
    failed = 0
    for module in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        print(f"== benchmarks.{module.name}", flush=True)
        runner = getattr(importlib.import_module(f"benchmarks.{module.name}"), "main", None)
        if runner is None:
            continue
        # A benchmark fails by its exit status, returned or raised (a page
        # that answered other than 200, rows unlike its floor's).
        try:
            failed += bool(runner())
        except SystemExit as exit_:
            failed += bool(exit_.code)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
