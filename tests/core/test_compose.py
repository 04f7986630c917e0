from pathlib import Path

import yaml
from django.conf import settings


def test_compose_has_the_production_shape_sharing_one_image():
    compose = yaml.safe_load(Path(settings.BASE_DIR, "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"proxy", "migrate", "web", "worker", "beat", "db", "redis"}
    portal = [services[name] for name in ("migrate", "web", "worker", "beat")]
    assert {s["image"] for s in portal} == {"hmis-portal:latest"}
    assert all(s["build"] == "." for s in portal)
    assert "gunicorn" in services["web"]["command"]
    assert "worker" in services["worker"]["command"] and "beat" in services["beat"]["command"]
    for service in portal:
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["environment"]["REDIS_URL"].startswith("redis://")


def test_only_the_tls_proxy_is_published_and_only_it_may_say_https():
    compose = yaml.safe_load(Path(settings.BASE_DIR, "docker-compose.yml").read_text())
    services = compose["services"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("caddy:2")
    assert {port.split(":")[-1] for port in proxy["ports"]} >= {"80", "443"}
    web = services["web"]
    assert "ports" not in web and web["expose"] == ["8000"]
    assert web["environment"]["BEHIND_TLS_PROXY"] == "true"
    command = web["command"]
    # One shell line: a line break would end the gunicorn command before its options.
    gunicorn_line = next(line for line in command.splitlines() if "gunicorn" in line)
    assert "--forwarded-allow-ips" in gunicorn_line
    allowed = command.split("--forwarded-allow-ips", 1)[1].lstrip("= ").split()[0].strip("'\"")
    assert allowed and "*" not in allowed
    proxy_address = proxy["networks"]["default"]["ipv4_address"]
    assert allowed == proxy_address
    caddyfile = Path(settings.BASE_DIR, "deploy", "Caddyfile").read_text()
    assert "reverse_proxy {$PORTAL_UPSTREAM:web:8000}" in caddyfile and "{$SITE_ADDRESS" in caddyfile
    assert any(volume.split(":")[0] == "./deploy/Caddyfile" for volume in proxy["volumes"])
