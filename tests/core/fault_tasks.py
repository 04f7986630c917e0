"""Tasks for the fault tests: one kills its own worker process on its first
run; one takes a few seconds and then records that it ran."""

import os
import signal
from pathlib import Path

from celery import shared_task


@shared_task(ignore_result=True)
def die_on_first_run(marker: str) -> None:
    path = Path(marker)
    if not path.exists():
        path.write_text("started")
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or a hard time limit would
    Path(f"{marker}.done").write_text("done")


@shared_task(ignore_result=True)
def sleep_then_record(ledger: str, token: str, seconds: float) -> None:
    """A task that takes a while and then makes one change: a row in a
    database of the test's own, one per run, so a second run shows as a second row
    (and a second start as a second line in the `.started` file at once)."""
    import sqlite3
    import time

    with open(f"{ledger}.{token}.started", "a") as starts:  # a line per start
        starts.write("started\n")
    time.sleep(seconds)
    with sqlite3.connect(ledger, timeout=30) as db:
        db.execute("CREATE TABLE IF NOT EXISTS runs (token TEXT)")
        db.execute("INSERT INTO runs (token) VALUES (?)", (token,))
