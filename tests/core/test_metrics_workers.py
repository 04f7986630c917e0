"""/metrics under gunicorn with several worker processes, as production runs
it: one scrape, answered by whichever worker takes it, counts the requests
every worker served, and nothing a previous run of gunicorn left behind."""

import re
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.core.test_operations import clean_env
from tests.faults import spare_port, stop_process

COUNTER = "django_http_requests_before_middlewares_total"
REQUESTS = 40


def value_of(name: str, text: str) -> float:
    [value] = re.findall(rf"^{name} (\S+)$", text, flags=re.MULTILINE)
    return float(value)


def get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        assert response.status == 200
        return response.read()


# The scrape reads the portal's own figures too: the workers use the test's migrated database.
@pytest.mark.postgres
def test_one_scrape_counts_the_requests_of_every_gunicorn_worker(tmp_path, transactional_db):
    figures = tmp_path / "prometheus"
    figures.mkdir()
    db = connection.settings_dict
    env = {**clean_env(), "PYTHONPATH": str(settings.BASE_DIR), "DEBUG": "true",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "PROMETHEUS_MULTIPROC_DIR": str(figures)}
    # A previous run's figures, as a restarted container finds them: 1,000 requests.
    subprocess.run([sys.executable, "-c", "from prometheus_client import Counter; "
                    f"Counter('{COUNTER.removesuffix('_total')}', 'old').inc(1000)"], env=env, check=True)
    assert list(figures.glob("*.db"))

    port = spare_port()
    access, errors = tmp_path / "access.log", tmp_path / "gunicorn.log"
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "hmis_portal.wsgi:application", "--workers", "2",
         "--bind", f"127.0.0.1:{port}", "--access-logfile", str(access), "--access-logformat", "%(p)s %(U)s",
         "--error-logfile", str(errors)],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while errors.exists() is False or errors.read_text().count("Booting worker") < 2:
            assert time.monotonic() < deadline and gunicorn.poll() is None, errors.read_text()
            time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=30):
            pass
        # "Booting worker" is logged before a worker has loaded the portal: on a
        # busy machine the first one ready may serve a whole batch alone. Batches
        # until both have served, within the deadline.
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while True:
                list(pool.map(lambda _: get(port, "/healthz"), range(REQUESTS)))
                sent += REQUESTS
                if len(_served_by(access)) == 2 or time.monotonic() > deadline:
                    break
        text = get(port, "/metrics").decode()
    finally:
        stop_process(gunicorn)

    served_by = _served_by(access)
    assert len(served_by) == 2, f"the requests were served by {len(served_by)} worker(s), not both"
    # Every request, whichever worker served it, and the scrape itself (counted
    # as it comes in); not the previous run's.
    assert value_of(COUNTER, text) == sent + 1


def _served_by(access) -> set[str]:
    """The process ids of the workers that served /healthz, from gunicorn's access log."""
    return {line.split()[0] for line in access.read_text().splitlines() if line.endswith(" /healthz")}
