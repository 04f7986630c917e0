"""gunicorn's settings file, read from the working directory where the
portal runs (the image's /app, the checkout): what gunicorn's command line
cannot say.

With PROMETHEUS_MULTIPROC_DIR set (docker-compose.yml sets it for web), each
worker process keeps its Prometheus figures in files there, and /metrics adds
up every worker's, whichever one answers the scrape; without it a scrape would
show the requests of the one worker that happened to take it.
"""

import os
from pathlib import Path


def on_starting(server):
    """Before the first worker starts: the figures a previous run of gunicorn
    left behind (a restart keeps the directory) are removed, or they would be
    added to this run's."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()


def child_exit(server, worker):
    """A worker that exited (restarted after max requests, killed, timed out):
    its live gauges are dropped; its counters keep counting in the sum."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
