import pytest
from django.core.cache import cache

from tests.scim_server import ScimServers


@pytest.fixture(scope="session")
def scim_servers():
    """This process's scim2-server processes, one per configuration, stopped
    when the process ends."""
    servers = ScimServers()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def scim_server(scim_servers):
    """A real scim2-server process with SCIM Bulk, holding no User and no
    Group when the test starts (kept for the process, emptied between tests)."""
    return scim_servers.get()


@pytest.fixture
def scim_settings(settings):
    """Configure a provisioning target; the test points HMIS_SCIM_URL at its server."""
    def configure(url, token=None):
        from tests.scim_server import TOKEN

        settings.HMIS_SCIM_URL = url
        settings.HMIS_SCIM_TOKEN = TOKEN if token is None else token
        settings.HMIS_SCIM_CONNECT_TIMEOUT = 2.0
        settings.HMIS_SCIM_TIMEOUT = 5.0
        return settings

    cache.delete_many([f"hmis-provisioning-slot:{i}" for i in range(10)])
    return configure
