"""deploy/prod_check.py (`make prod-check`) reads docker-compose.yml as
`docker compose` does. The whole run (a fresh migrate, five processes, about
90 s) is `make prod-check`'s, not the suite's; these tests cover how it reads
the compose file."""

import importlib.util
import shutil
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
