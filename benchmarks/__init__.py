"""Benchmarks: each module of this package is runnable on its own
(`python -m benchmarks.<name>`); `python -m benchmarks` (`make bench`) runs
them all. They need PostgreSQL: set DATABASE_URL."""
