"""A PostgreSQL server of the benchmark's own, sized for the table it measures.

The machine's server keeps PostgreSQL's defaults (shared_buffers 128 MB,
a checkpoint every 1 GB of WAL). At a million HMIS accounts the table and its
indexes no longer fit in that cache, and both the sweep and its floor slow
down per row as the table grows: that is the server's size, not the sweep's.
A deployment with that many accounts would give PostgreSQL a quarter of its
memory; `--sized-server` runs the benchmark on such a server, started here
in a temporary folder on a spare port and removed at the end, so the cost per
row can be compared across sizes on a server where the data fits.

Durability is left on (fsync, synchronous commit): only the cache and the
checkpoint distance change.
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

SETTINGS = {
    "shared_buffers": "6GB",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "1h",
    "maintenance_work_mem": "512MB",
    "effective_cache_size": "16GB",
}


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if not found:
        raise RuntimeError(f"{name} is not installed (PostgreSQL's server package)")
    return found


def _spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SizedServer:
    """initdb, start with SETTINGS, and stop and remove; `url` is for DATABASE_URL."""

    def __init__(self):
        self.port = _spare_port()
        self.folder = tempfile.mkdtemp(prefix="benchmark-postgres-")
        self.data = os.path.join(self.folder, "data")
        # initdb refuses to run as root: the server runs as the postgres user then.
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        subprocess.run([*prefix, *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                       cwd=self.folder)

    def start(self) -> "SizedServer":
        self._run(_binary("initdb"), "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        options = " ".join([f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.folder}"]
                           + [f"-c {name}={value}" for name, value in SETTINGS.items()])
        self._run(_binary("pg_ctl"), "-D", self.data, "-o", options, "-l", os.path.join(self.folder, "log"),
                  "-w", "-t", "60", "start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the benchmark's PostgreSQL server did not start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, RuntimeError):
            self._run(_binary("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def describe(self) -> str:
        return ", ".join(f"{name} {value}" for name, value in SETTINGS.items())
