"""The health probes docker-compose.yml and the Dockerfile declare, one per
kind of process: `python -m hmis_portal.probe web|worker|beat`. Exit 0 when
healthy, 1 otherwise, with one line saying why. deploy/prod_check.py runs the
same commands.

- web: GET /healthz on 127.0.0.1:$PORT (what gunicorn binds), which answers 200
  when the database and the broker do, whatever Host the portal serves.
- worker: the worker of this host ($HOSTNAME) answers a Celery ping.
- beat: beat's heartbeat file ($BEAT_HEARTBEAT_FILE), touched on every tick of
  its scheduler, is fresher than $BEAT_HEARTBEAT_MAX_AGE seconds.
"""

import os
import sys
import time
import urllib.error
import urllib.request

BEAT_HEARTBEAT_FILE = "/tmp/hmis-portal-beat-heartbeat"
BEAT_HEARTBEAT_MAX_AGE = 60


def web() -> str:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return "" if response.status == 200 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}: {exc.read(300).decode(errors='replace')}"
    except OSError as exc:
        return f"{url} did not answer: {exc}"


def worker() -> str:
    import socket

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hmis_portal.settings")
    from hmis_portal.celery import app

    node = f"celery@{os.environ.get('HOSTNAME') or socket.gethostname()}"
    replies = app.control.ping(destination=[node], timeout=float(os.environ.get("WORKER_PING_TIMEOUT", "3")))
    if any(node in reply for reply in replies or []):
        return ""
    return f"{node} did not answer a ping"


def beat() -> str:
    path = os.environ.get("BEAT_HEARTBEAT_FILE", BEAT_HEARTBEAT_FILE)
    limit = float(os.environ.get("BEAT_HEARTBEAT_MAX_AGE", BEAT_HEARTBEAT_MAX_AGE))
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError:
        return f"beat has not ticked yet ({path} is missing)"
    return "" if age <= limit else f"beat last ticked {age:.0f} s ago (more than {limit:.0f} s)"


PROBES = {"web": web, "worker": worker, "beat": beat}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PROBES:
        print(f"usage: python -m hmis_portal.probe {'|'.join(PROBES)}", file=sys.stderr)
        return 2
    try:
        problem = PROBES[argv[0]]()
    except Exception as exc:  # noqa: BLE001 - a probe reports, it never raises
        problem = f"{exc.__class__.__name__}: {exc}"
    print(f"{argv[0]}: {problem or 'healthy'}")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
