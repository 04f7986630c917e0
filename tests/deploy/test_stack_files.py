"""The production shape as files: docker-compose.yml, the Dockerfile, the
Caddyfile and the ignore files. Each test reads them as an administrator's
`docker compose up` would use them."""

import re
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PORTAL = ("web", "worker", "beat", "migrate")


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services():
    return compose()["services"]


def test_every_long_running_service_has_a_health_check():
    for name, service in services().items():
        if name == "migrate":
            continue
        assert "healthcheck" in service, f"{name} has no health check"
        assert service["healthcheck"]["test"], name


def test_the_web_probe_asks_the_portals_own_healthz_on_the_port_gunicorn_binds():
    web = services()["web"]
    # The probe asks /healthz on $PORT, which gunicorn binds when given no --bind.
    assert web["healthcheck"]["test"] == ["CMD", "python", "-m", "hmis_portal.probe", "web"]
    assert "--bind" not in web["command"] and web["environment"]["PORT"] == "8000"


def test_the_image_declares_a_health_check():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^HEALTHCHECK .*hmis_portal\.probe", dockerfile, re.M), dockerfile


def test_the_image_holds_the_portals_sources_compiled():
    """No process of the image writes bytecode (PYTHONDONTWRITEBYTECODE):
    unless the build compiles the sources it copied, every command, worker
    and server compiles them again at its start."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ENV .*PYTHONDONTWRITEBYTECODE=1", dockerfile, re.M), dockerfile
    copied = re.search(r"^COPY \. \.$", dockerfile, re.M)
    compiled = re.search(r"^RUN python -m compileall .*/app$", dockerfile, re.M)
    assert copied and compiled and compiled.start() > copied.start(), dockerfile


def test_migrate_is_one_shot_and_everything_of_the_portal_waits_for_it():
    all_services = services()
    migrate = all_services["migrate"]
    assert "migrate" in migrate["command"] and "gunicorn" not in migrate["command"]
    assert migrate.get("restart", "no") == "no"
    # The guardrails run first: a stack with unsafe production settings never starts.
    assert "check --deploy --fail-level ERROR" in migrate["command"]
    for name in ("web", "worker", "beat"):
        service = all_services[name]
        assert "migrate" not in service["command"], f"{name} migrates on start"
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    assert all_services["proxy"]["depends_on"]["web"] == {"condition": "service_healthy"}


def test_the_same_image_serves_every_portal_service():
    all_services = services()
    assert {all_services[name]["image"] for name in PORTAL} == {"hmis-portal:latest"}


SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")


def _walk_environment(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "environment" and isinstance(value, dict):
                for name, setting in value.items():
                    yield path + (name,), name, str(setting)
            else:
                yield from _walk_environment(value, path + (str(key),))


def test_no_password_or_secret_is_written_into_the_compose_file():
    for where, name, value in _walk_environment(compose()):
        if SECRETISH.search(name) and not name.endswith("_FILE"):
            assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*)?\}", value), f"{'.'.join(where)} is written out: {value!r}"
        # No URL carries a password of its own.
        assert not re.search(r"://[^/@\s:]+:(?!\$\{)[^@\s/]+@", value), f"{'.'.join(where)} has a password in it"


def test_dot_env_never_reaches_the_image_or_the_repository():
    for ignore in (".gitignore", ".dockerignore"):
        lines = {line.strip() for line in (ROOT / ignore).read_text().splitlines()}
        assert {".env"} <= lines or {"/.env"} <= lines, ignore
    dockerignore = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {"secrets", ".env.*"} <= dockerignore


def test_one_upload_limit_is_read_by_the_proxy_and_the_portal():
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    sizes = re.findall(r"max_size\s+(\S+)", caddyfile)
    assert sizes == ["{$REQUEST_MAX_BYTES}"], sizes
    all_services = services()
    proxy_limit = all_services["proxy"]["environment"]["REQUEST_MAX_BYTES"]
    assert {all_services[name]["environment"]["REQUEST_MAX_BYTES"] for name in ("web", "worker", "beat")} == {
        proxy_limit}
    # The compose default is the portal's own default: one number.
    default = re.fullmatch(r"\$\{REQUEST_MAX_BYTES:-(\d+)\}", proxy_limit).group(1)
    assert int(default) == settings.REQUEST_MAX_BYTES


def test_the_largest_upload_the_portal_accepts_fits_under_the_limit():
    for name in ("LOGIN_REPORT_MAX_BYTES", "DOCUMENT_MAX_BYTES", "HMIS_LOGIN_BATCH_MAX_BYTES"):
        assert getattr(settings, name) < settings.REQUEST_MAX_BYTES, name


def test_caddy_reads_its_ports_and_upstream_from_the_environment_with_the_compose_defaults():
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "reverse_proxy {$PORTAL_UPSTREAM:web:8000}" in caddyfile
    assert "http_port {$HTTP_PORT:80}" in caddyfile and "https_port {$HTTPS_PORT:443}" in caddyfile
    # A probe listener on the loopback only, answered through to the portal's /healthz.
    proxy_probe = " ".join(services()["proxy"]["healthcheck"]["test"])
    assert "PROXY_HEALTH_PORT" in proxy_probe and "/healthz" in proxy_probe


def test_make_prod_check_runs_the_script():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^prod-check:.*\n\t.*deploy/prod_check\.py", makefile, re.M)
