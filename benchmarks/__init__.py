"""Benchmarks: each module of this package is runnable on its own
(`python -m benchmarks.<name>`); `python -m benchmarks` (`make bench`) runs
them all. They need PostgreSQL: set DATABASE_URL."""


def verdict(ratio: float, goal: float, *, size: int, goal_size: int, counted: str) -> str:
    """How a ratio stands against its goal, judged only at the size the goal
    is set for (`goal_size` `counted`): at a smaller one a request's fixed
    cost, or the noise of a run of a few tenths of a second, is most of it."""
    if size < goal_size:
        return f"set for {goal_size:,} {counted}"
    return "ok" if ratio <= goal else "ABOVE GOAL"
