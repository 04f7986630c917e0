"""What collecting the suite costs each test process: every process imports
every test file, so a library a file imports at the top is loaded by all of
them, whichever tests they then run."""

from tests.conftest import LOADED_BY_COLLECTION


def test_collecting_the_suite_loads_no_scim_library(request):
    """The SCIM libraries take seconds to load under pytest (pydantic reads
    each model class's source by walking the whole call stack): the tests that
    use them import them, and only the process running the "scim" group pays."""
    loaded = request.config.stash[LOADED_BY_COLLECTION]
    assert not sorted(name for name in loaded if name.split(".")[0] in ("scim2_client", "scim2_models"))
