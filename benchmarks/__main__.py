"""Run every benchmark module in this package, each as if run with -m."""

import pkgutil
import runpy

import benchmarks

for module in sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_")):
    print(f"== benchmarks.{module}")
    runpy.run_module(f"benchmarks.{module}", run_name="__main__")
