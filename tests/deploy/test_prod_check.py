"""deploy/prod_check.py (`make prod-check`) reads docker-compose.yml as
`docker compose` does, and fails, naming the service, when one never becomes
healthy. The whole run (a fresh migrate, five processes, about 90 s) is `make
prod-check`'s, not the suite's; these tests cover how it reads the compose
file, and its waiting for the probes with real processes and a short timeout."""

import importlib.util
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


@pytest.fixture(scope="module")
def prod_check():
    spec = importlib.util.spec_from_file_location("prod_check", ROOT / "deploy" / "prod_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_variables_are_interpolated_as_compose_does(prod_check):
    dotenv = {"SET": "value", "EMPTY": ""}
    assert prod_check.interpolate("${SET}/${SET:-x}/${UNSET:-fallback}/${EMPTY:-fallback}/${EMPTY-kept}", dotenv) \
        == "value/value/fallback/fallback/"
    assert prod_check.interpolate("wget http://127.0.0.1:$${PORT}/healthz", dotenv) \
        == "wget http://127.0.0.1:${PORT}/healthz"
    with pytest.raises(SystemExit, match="needs UNSET: say so"):
        prod_check.interpolate("${UNSET:?say so}", dotenv)


def test_every_declared_probe_can_be_run_here(prod_check):
    services = prod_check.interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"],
                                      {"SECRET_KEY": "x", "POSTGRES_PASSWORD": "x"})
    probes = {name: prod_check.probe_command(service["healthcheck"]["test"])
              for name, service in services.items() if "healthcheck" in service}
    assert set(probes) == {"proxy", "web", "worker", "beat", "db", "redis"}
    path = prod_check.BASE_ENV["PATH"]
    for name, argv in probes.items():
        program = argv[2].split()[0] if argv[:2] == ["sh", "-c"] else argv[0]
        assert shutil.which(program, path=path), f"{name}'s probe needs {program}"
    assert probes["web"] == ["python", "-m", "hmis_portal.probe", "web"]


def test_the_portal_services_run_the_compose_commands(prod_check):
    services = prod_check.interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"],
                                      {"SECRET_KEY": "x", "POSTGRES_PASSWORD": "x", "PROXY_ADDRESS": "127.0.0.1"})
    commands = {name: prod_check.command_of(services[name]["command"]) for name in prod_check.PORTAL_SERVICES}
    assert commands["web"][:2] == ["gunicorn", "hmis_portal.wsgi:application"]
    assert commands["web"][-2:] == ["--forwarded-allow-ips", "127.0.0.1"]
    assert commands["migrate"][:2] == ["sh", "-c"]
    assert commands["migrate"][2].startswith("python manage.py check --deploy --fail-level ERROR && ")


# A web process that takes connections and never answers, as gunicorn whose
# workers are all stuck would.
SILENT_WEB = """
import socket, sys, time
listener = socket.socket()
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen(16)
held = []
while True:
    held.append(listener.accept()[0])
"""


def test_a_service_that_never_answers_its_probe_fails_the_check_by_name(prod_check, tmp_path, capsys):
    port = prod_check.spare_port()
    heartbeat = tmp_path / "beat-heartbeat"
    heartbeat.touch()
    envs = {"web": {**prod_check.BASE_ENV, "PORT": str(port)},
            "beat": {**prod_check.BASE_ENV, "BEAT_HEARTBEAT_FILE": str(heartbeat)}}
    # The probes as the compose file declares them.
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    probes = {name: prod_check.probe_command(services[name]["healthcheck"]["test"]) for name in envs}
    stack = prod_check.Stack(tmp_path)
    stack.start("web", [sys.executable, "-c", SILENT_WEB, str(port)], envs["web"])
    stack.start("beat", ["sleep", "60"], envs["beat"])
    problems = []
    started = time.monotonic()
    try:
        healthy = prod_check.wait_until_healthy(stack, probes, envs, timeout=2, problems=problems, interval=0.2)
        assert stack.processes["web"].poll() is None, "the silent web process should still run"
    finally:
        stack.stop()
    took = time.monotonic() - started
    assert list(healthy) == ["beat"]
    [problem] = problems
    assert problem.startswith(f"web never became healthy: web: http://127.0.0.1:{port}/healthz did not answer")
    # The wait ends at its timeout, plus one round of probes (the web probe's own 5 s timeout).
    assert took < 2 + 5 + 10, f"the wait took {took:.0f}s"

    assert prod_check.report(problems, healthy, tmp_path) == 1
    output = capsys.readouterr().out
    assert "prod-check: FAILED: web never became healthy" in output
    assert "every service healthy" not in output


def test_a_service_that_exits_ends_the_wait_at_once_and_fails_the_check_by_name(prod_check, tmp_path, capsys):
    envs = {"worker": dict(prod_check.BASE_ENV)}
    stack = prod_check.Stack(tmp_path)
    stack.start("worker", ["sh", "-c", "echo 'Unrecoverable error: broker gone'; exit 3"], envs["worker"])
    stack.processes["worker"].wait(10)
    problems = []
    healthy = prod_check.wait_until_healthy(stack, {"worker": ["false"]}, envs, timeout=60, problems=problems)
    stack.stop()
    assert healthy == {}
    assert problems == ["worker exited 3:\nUnrecoverable error: broker gone"]
    assert prod_check.report(problems, healthy, tmp_path) == 1
    assert "prod-check: FAILED: worker exited 3" in capsys.readouterr().out
