"""`make prod-check`: the compose stack, without Docker, on this machine.

Runs the processes docker-compose.yml runs, with the environment it gives
them, against this machine's PostgreSQL (a database of its own,
hmis_prodcheck) and Redis (db 8): the one-shot `migrate` service first (its
command: the production guardrails, then the migrations), then `web`
(gunicorn), `worker` and `beat` (Celery) and `proxy` (Caddy, with
deploy/Caddyfile, in front). Production settings: DEBUG off, a generated
SECRET_KEY and database password in temporary *_FILE secret files, an https
PORTAL_BASE_URL, an SMTP EMAIL_URL (a local sink). Then it runs each health
probe the compose file declares, as declared, until all pass or time runs out,
checks a page and the request size through Caddy's TLS, and stops everything
it started. Exit 0 only when every service is healthy.

What it cannot do here: build the image (no Docker daemon). It runs the
image's steps that matter to the processes (collectstatic) on the working
tree instead. Container host names become local addresses: db and redis are
this machine's servers, web is 127.0.0.1 on a spare port, and ports that
would clash with other programs (80, 443, 8000, 2019, 2080) are spare ones.

Environment: PRODCHECK_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/hmis_prodcheck), PRODCHECK_REDIS_URL
(default redis://127.0.0.1:6379/8), PRODCHECK_TIMEOUT (seconds, default 120).
"""

import http.client
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from concurrent.futures import ThreadPoolExecutor

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SITE = "hmis-prodcheck.local"
PORTAL_SERVICES = ("migrate", "web", "worker", "beat")
# What a container inherits from nothing but its image: enough to run programs.
BASE_ENV = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1"}


def say(line: str) -> None:
    print(f"prod-check: {line}", flush=True)


def spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the compose file, interpolated as `docker compose` does -----------------------

VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def interpolate(value, dotenv: dict):
    """${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, and $$ for a
    literal $, with the values a deployment's .env would hold."""
    if isinstance(value, dict):
        return {key: interpolate(item, dotenv) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, dotenv) for item in value]
    if not isinstance(value, str):
        return value

    def one(match):
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        present = name in dotenv and (dotenv[name] != "" or op in (None, "-", "?"))
        if op in (":?", "?") and not present:
            raise SystemExit(f"prod-check: the compose file needs {name}: {arg}")
        return dotenv[name] if present else (arg or "")

    return VARIABLE.sub(one, value)


def environment_of(service: dict) -> dict:
    return {key: "" if value is None else str(value) for key, value in (service.get("environment") or {}).items()}


def probe_command(test) -> list[str]:
    if isinstance(test, str):
        return ["sh", "-c", test]
    kind, *rest = test
    return ["sh", "-c", rest[0]] if kind == "CMD-SHELL" else rest


def command_of(command) -> list[str]:
    """A service's command as compose runs it: a string is split as a shell
    would split it, but run without one."""
    return command if isinstance(command, list) else shlex.split(command)


# --- a mail server that takes every message ----------------------------------------

class SmtpSink(socketserver.ThreadingTCPServer):
    """Just enough SMTP for Django's backend: every message is kept."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.messages: list[str] = []

        sink = self

        class Session(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"220 prodcheck ESMTP\r\n")
                while line := self.rfile.readline():
                    verb = line.strip().split(b" ", 1)[0].upper()
                    if verb in (b"EHLO", b"HELO"):
                        self.wfile.write(b"250 prodcheck\r\n")
                    elif verb == b"DATA":
                        self.wfile.write(b"354 go on\r\n")
                        body = []
                        while (data := self.rfile.readline()) not in (b".\r\n", b""):
                            body.append(data.decode(errors="replace"))
                        sink.messages.append("".join(body))
                        self.wfile.write(b"250 kept\r\n")
                    elif verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        super().__init__(("127.0.0.1", 0), Session)


# --- processes ------------------------------------------------------------------------

class Stack:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.processes: dict[str, subprocess.Popen] = {}

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        say(f"starting {name}: {argv[-1] if argv[:2] == ['sh', '-c'] else ' '.join(argv)}")
        with open(self.log(name), "ab") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes[name] = process
        return process

    def stop(self) -> None:
        for name, process in reversed(list(self.processes.items())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, process in self.processes.items():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        say(f"stopped {', '.join(self.processes) or 'nothing'}")

    def tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join(self.log(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def psql(base: str, sql: str) -> None:
    parts = urlsplit(base)
    subprocess.run(["psql", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
                    "-U", parts.username or "postgres", "-d", "postgres", "-q", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def https_get(port: int, path: str, ca: Path, *, method="GET", body=b"", headers=None):
    """A request to Caddy's TLS port as a browser would make it for SITE:
    SNI and Host name the site, and the certificate must verify against the
    CA Caddy made (a local name gets a certificate of Caddy's own CA). A
    server may answer (413) before it has read a large body and close: the
    answer is read even when sending the rest fails."""
    context = ssl.create_default_context(cafile=str(ca))
    connection = http.client.HTTPSConnection(SITE, port, context=context, timeout=60)
    connection.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60),
                                          server_hostname=SITE)
    try:
        connection.putrequest(method, path, skip_host=True)
        for name, value in {"Host": f"{SITE}:{port}", "Content-Length": str(len(body)), **(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders()
        try:
            connection.sock.sendall(body)
        except (ssl.SSLError, ConnectionError):
            pass
        response = http.client.HTTPResponse(connection.sock, method=method)
        response.begin()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_healthy(stack: Stack, probes: dict, envs: dict, timeout: float, problems: list[str], *,
                       interval: float = 1.0) -> dict[str, str]:
    """Run each service's probe, as declared, until every one has passed once
    or `timeout` seconds are gone; a service whose process exits (migrate
    aside, which is done before) ends the wait at once. Returns the healthy
    services and when they became so; each one that exited or never passed
    is added to `problems` by name, with its probe's last words and its log."""
    healthy: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    last: dict[str, str] = {}
    started = time.monotonic()

    def probe(name):
        return subprocess.run(probes[name], cwd=ROOT, env=envs[name], capture_output=True, text=True,
                              timeout=60)

    while time.monotonic() < deadline and len(healthy) < len(probes):
        for name, process in stack.processes.items():
            if name != "migrate" and process.poll() is not None:
                problems.append(f"{name} exited {process.returncode}:\n{stack.tail(name)}")
                return healthy
        waiting = [name for name in probes if name not in healthy]
        with ThreadPoolExecutor(len(waiting)) as pool:
            for name, done in zip(waiting, pool.map(probe, waiting)):
                if done.returncode == 0:
                    healthy[name] = f"{time.monotonic() - started:.0f} s"
                    say(f"{name} healthy: {' '.join(probes[name])}")
                else:
                    last[name] = (done.stdout + done.stderr).strip()[-500:]
        time.sleep(interval)
    for name in probes:
        if name not in healthy:
            problems.append(f"{name} never became healthy: {last.get(name, '')}\n{stack.tail(name)}")
    return healthy


def report(problems: list[str], healthy: dict[str, str], workdir: Path) -> int:
    """Say what failed, by service, or that every service was healthy; the
    exit status: 0 only when nothing failed."""
    for problem in problems:
        say(f"FAILED: {problem}")
    if healthy and not problems:
        say("every service healthy: " + ", ".join(f"{name} ({when})" for name, when in healthy.items()))
        shutil.rmtree(workdir, ignore_errors=True)
    elif problems:
        say(f"logs kept in {workdir}")
    return 1 if problems else 0


def main() -> int:
    timeout = float(os.environ.get("PRODCHECK_TIMEOUT", "120"))
    database = os.environ.get("PRODCHECK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hmis_prodcheck")
    redis_url = os.environ.get("PRODCHECK_REDIS_URL", "redis://127.0.0.1:6379/8")
    caddy = shutil.which("caddy")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    workdir = Path(tempfile.mkdtemp(prefix="hmis-prodcheck-"))
    ports = {name: spare_port() for name in ("web", "http", "https", "admin", "proxy_health")}

    # What the deployment's .env would hold (docker-compose.yml's header).
    secret_key, db_password = workdir / "secret_key", workdir / "db_password"
    secret_key.write_text(secrets.token_urlsafe(50) + "\n")
    db_password.write_text(secrets.token_urlsafe(24) + "\n")
    for path in (secret_key, db_password):
        path.chmod(0o600)
    sink = SmtpSink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    dotenv = {
        "SECRET_KEY": "(from SECRET_KEY_FILE)", "POSTGRES_PASSWORD": "(from DATABASE_PASSWORD_FILE)",
        "SITE_ADDRESS": SITE, "ALLOWED_HOSTS": SITE, "PROXY_ADDRESS": "127.0.0.1",
    }
    services = interpolate(compose["services"], dotenv)
    # The container host names, as this machine has them; secrets as files.
    local = {
        "DATABASE_URL": database, "REDIS_URL": redis_url, "SECRET_KEY_FILE": str(secret_key),
        "DATABASE_PASSWORD_FILE": str(db_password),
        "PORTAL_BASE_URL": f"https://{SITE}:{ports['https']}",
        "EMAIL_URL": f"smtp://127.0.0.1:{sink.server_address[1]}", "DEFAULT_FROM_EMAIL": f"portal@{SITE}",
        "PRIVATE_MEDIA_ROOT": str(workdir / "private"), "STATIC_ROOT": str(workdir / "static"),
        "BEAT_HEARTBEAT_FILE": str(workdir / "beat-heartbeat"), "HOSTNAME": socket.gethostname(),
        "DEBUG": "false",
    }
    envs = {}
    for name in PORTAL_SERVICES:
        env = {**BASE_ENV, **environment_of(services[name]), **local}
        env.pop("SECRET_KEY"), env.pop("DATABASE_PASSWORD")  # in the files instead
        if name == "web":
            env["PORT"] = str(ports["web"])
            if "PROMETHEUS_MULTIPROC_DIR" in env:  # a directory of this run's, not one shared on the machine
                env["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / "prometheus")
        envs[name] = env
    envs["proxy"] = {**BASE_ENV, **environment_of(services["proxy"]),
                     "HTTP_PORT": str(ports["http"]), "HTTPS_PORT": str(ports["https"]),
                     "CADDY_ADMIN": f"127.0.0.1:{ports['admin']}", "PROXY_HEALTH_PORT": str(ports["proxy_health"]),
                     "PORTAL_UPSTREAM": f"127.0.0.1:{ports['web']}",
                     "XDG_DATA_HOME": str(workdir / "caddy-data"), "XDG_CONFIG_HOME": str(workdir / "caddy-config"),
                     "HOME": str(workdir)}
    # The probes of db and redis ask this machine's servers.
    parts = urlsplit(database)
    envs["db"] = {**BASE_ENV, "PGHOST": parts.hostname or "127.0.0.1", "PGPORT": str(parts.port or 5432)}
    envs["redis"] = dict(BASE_ENV)

    stack = Stack(workdir)
    healthy: dict[str, str] = {}
    problems: list[str] = []

    def bring_up() -> None:
        """Everything up and probed; each failure is added to `problems`."""
        name = parts.path.lstrip("/")
        psql(database, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        psql(database, f'CREATE DATABASE "{name}"')
        subprocess.run(["redis-cli", "-u", redis_url, "flushdb"], check=True, stdout=subprocess.DEVNULL)
        say(f"database {name}, Redis {redis_url}, files in {workdir}")

        # The image's build step that the processes rely on (Dockerfile: collectstatic).
        built = subprocess.run([str(BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT,
                               env=envs["web"], capture_output=True, text=True, timeout=300)
        if built.returncode:
            problems.append(f"collectstatic failed:\n{built.stderr[-3000:]}")
            return

        # The one-shot migrate service; the others start only once it has succeeded.
        started = time.monotonic()
        migrate = stack.start("migrate", command_of(services["migrate"]["command"]), envs["migrate"])
        if migrate.wait(timeout=600):
            problems.append(f"migrate exited {migrate.returncode}:\n{stack.tail('migrate')}")
            return
        say(f"migrate completed in {time.monotonic() - started:.0f} s")
        for name in ("web", "worker", "beat"):
            stack.start(name, command_of(services[name]["command"]), envs[name])
        if not caddy:
            say("Caddy is not installed (apt-get install caddy): the proxy is left out, gunicorn is checked directly")
        else:
            stack.start("proxy", [caddy, "run", "--config", str(ROOT / "deploy" / "Caddyfile"),
                                  "--adapter", "caddyfile"], envs["proxy"])

        # Every health probe the compose file declares, run as declared.
        probes = {name: probe_command(service["healthcheck"]["test"])
                  for name, service in services.items() if "healthcheck" in service and name in envs}
        if not caddy:
            probes.pop("proxy", None)
        healthy.update(wait_until_healthy(stack, probes, envs, timeout, problems))
        if problems:
            return

        if caddy:
            ca = Path(envs["proxy"]["XDG_DATA_HOME"]) / "caddy" / "pki" / "authorities" / "local" / "root.crt"
            status, _ = https_get(ports["https"], "/healthz", ca)
            checks = {"GET https /healthz through Caddy": (status, 200)}
            status, page = https_get(ports["https"], "/accounts/login/", ca)
            checks["GET https /accounts/login/ through Caddy"] = (status, 200)
            # One request size for Caddy and the portal: a body above Caddy's old
            # 12 MB reaches the portal, a body above REQUEST_MAX_BYTES is refused
            # with 413.
            limit = int(envs["proxy"]["REQUEST_MAX_BYTES"])
            status, _ = https_get(ports["https"], "/accounts/login/", ca, method="POST", body=b"x" * (13 * 2 ** 20),
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
            # (Django refuses a form that large itself: 400, RequestDataTooBig.)
            checks["POST 13 MB through Caddy reaches the portal"] = (status, 400)
            status, _ = https_get(ports["https"], "/accounts/login/", ca, method="POST", body=b"x" * (limit + 1),
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
            checks["POST REQUEST_MAX_BYTES + 1 through Caddy"] = (status, 413)
            for label, (got, wanted) in checks.items():
                say(f"{label}: {got}" + ("" if got == wanted else f" (wanted {wanted})"))
                if got != wanted:
                    problems.append(f"{label} answered {got}, not {wanted}")
            if b"Sign in" not in page and b"sign in" not in page:
                problems.append("the sign-in page did not render")

    try:
        bring_up()
    finally:
        stack.stop()
        sink.shutdown()
        sink.server_close()
        try:
            psql(database, f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
        except subprocess.CalledProcessError as exc:
            problems.append(f"could not drop the database: {exc.stderr.decode(errors='replace')}")
        subprocess.run(["redis-cli", "-u", redis_url, "flushdb"], stdout=subprocess.DEVNULL)
        status = report(problems, healthy, workdir)
    return status


if __name__ == "__main__":
    sys.exit(main())
