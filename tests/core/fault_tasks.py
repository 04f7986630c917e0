"""A task for the worker-loss test: its first run kills its own worker process."""

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
