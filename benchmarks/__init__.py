"""Benchmarks against PostgreSQL: `python -m benchmarks` runs every module;
`python -m benchmarks.<name>` runs one. Each needs DATABASE_URL set."""
