"""The suite's own parallel runs (`make test`: pytest-xdist, `--dist loadgroup`)
keep each group of tests in one process: the browser tests share one Chromium,
the worker tests do not compete with each other for the cores, and the tests
that read the demo share the one seeded copy of it (tests/conftest.py). The
longest groups are handed out first (tests/scheduling.py)."""

import pytest

from tests.scheduling import SECONDS


def _grouped_run(config):
    return hasattr(config, "workerinput") and getattr(config.option, "loadgroup", False)


@pytest.mark.xdist_group("browser")
def test_a_test_of_a_group_is_scheduled_with_its_group(request):
    if not _grouped_run(request.config):
        pytest.skip("only in a test process of a grouped parallel run (make test)")
    # The scheduler sends a test to its group's process by this ending of its id.
    assert request.node.nodeid.endswith("::test_a_test_of_a_group_is_scheduled_with_its_group@browser")


def test_a_test_that_reads_the_demo_is_scheduled_with_the_others_that_do(request, seeded_demo):
    if not _grouped_run(request.config):
        pytest.skip("only in a test process of a grouped parallel run (make test)")
    assert request.node.nodeid.endswith("@demo")
    assert "Demo logins" in seeded_demo.output


class _Process:
    """A test process as pytest-xdist's scheduler sees it: what it was sent."""

    def __init__(self, name):
        self.gateway = type("Gateway", (), {"id": name})()
        self.shutting_down = False
        self.sent = []

    def send_runtest_some(self, indexes):
        self.sent += indexes

    def shutdown(self):
        self.shutting_down = True


class _Config:
    """What the scheduler reads of a run's options: `-n 3`, xdist's own reordering on."""

    option = type("Option", (), {"loadscopereorder": True})()

    def getvalue(self, name):
        return {"tx": ["3*popen"], "dist": "loadgroup"}[name]


def _scheduled(collection):
    """The first unit each of three processes is sent, by the run's scheduler."""
    from tests.conftest import pytest_xdist_make_scheduler

    scheduler = pytest_xdist_make_scheduler(_Config(), None)
    processes = [_Process(f"gw{n}") for n in range(3)]
    for process in processes:
        scheduler.add_node(process)
        scheduler.add_node_collection(process, collection)
    scheduler.schedule()
    return [sorted({collection[index].rsplit("@", 1)[-1] for index in process.sent}) for process in processes]


def test_the_longest_groups_are_handed_out_first_not_the_largest():
    # Many short tests in a group of their own, three long crawls in groups of one test each,
    # and lone tests: pytest-xdist alone sends the largest groups first and the crawls after them.
    collection = ([f"tests/test_a.py::test_{n}" for n in range(20)]
                  + [f"tests/test_pages.py::test_page[{n}]@short-pages-{n % 3}" for n in range(60)]
                  + [f"tests/core/test_browser_accessibility.py::test_crawl[{pack}]@browser-crawl-{pack}"
                     for pack in ("la", "mo-bos", "agency-admin")])
    first = _scheduled(collection)
    assert [units[0] for units in first] == ["browser-crawl-la", "browser-crawl-agency-admin",
                                             "browser-crawl-mo-bos"]


def test_a_unit_s_estimate_is_its_group_s_or_its_file_s_and_the_rest_keep_their_order():
    from tests.scheduling import longest_first, seconds

    assert seconds("browser") == SECONDS["browser"]
    assert seconds("tests/hmis_access/test_upgrade.py::test_x") == SECONDS["tests/hmis_access/test_upgrade.py"]
    assert seconds("tests/test_a.py::test_b") == 0 and seconds("a-new-group") == 0
    units = ["tests/test_a.py::test_b", "a-new-group", "every-page", "tests/test_benchmarks.py::test_x",
             "browser", "tests/test_a.py::test_a"]
    assert longest_first(units) == ["browser", "every-page", "tests/test_benchmarks.py::test_x",
                                    "tests/test_a.py::test_b", "a-new-group", "tests/test_a.py::test_a"]


def test_every_group_of_the_run_has_an_estimate(request):
    groups = {mark.args[0] for item in request.session.items for mark in item.iter_markers("xdist_group")}
    if "browser-admin" not in groups:
        pytest.skip("only in a run of the whole suite")
    assert groups - set(SECONDS) == set()
    # And each long test is a group of its own: the three crawls, the admin audit.
    crawls = [item for item in request.session.items if "test_browser_accessibility.py::" in item.nodeid]
    assert sorted(item.get_closest_marker("xdist_group").args[0] for item in crawls) == [
        "browser-crawl-agency-admin", "browser-crawl-la", "browser-crawl-mo-bos"]
