from pathlib import Path

import yaml
from django.conf import settings


def test_compose_has_the_production_shape_sharing_one_image():
    compose = yaml.safe_load(Path(settings.BASE_DIR, "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"web", "worker", "beat", "db", "redis"}
    portal = [services[name] for name in ("web", "worker", "beat")]
    assert {s["image"] for s in portal} == {"hmis-portal:latest"}
    assert all(s["build"] == "." for s in portal)
    assert "gunicorn" in services["web"]["command"]
    assert "worker" in services["worker"]["command"] and "beat" in services["beat"]["command"]
    for service in portal:
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["environment"]["REDIS_URL"].startswith("redis://")
