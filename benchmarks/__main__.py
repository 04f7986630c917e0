"""Run every benchmark module in this package, one after the other, each in
a process of its own: a benchmark sets up Django for its own scratch
database (and sets DATABASE_URL to it), which one process can do only once,
so each starts from the environment `make bench` was given."""

import pkgutil
import subprocess
import sys

import benchmarks


def _command(name: str) -> list[str]:
    return [sys.executable, "-m", f"benchmarks.{name}"]


def main() -> int:
    failed = 0
    for module in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        print(f"== benchmarks.{module.name}", flush=True)
        # A benchmark fails by its exit status (a page that answered other
        # than 200, rows unlike its floor's, an error).
        failed += subprocess.call(_command(module.name)) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
