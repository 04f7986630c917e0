"""The suite's own parallel runs (`make test`: pytest-xdist, `--dist loadgroup`)
keep each group of tests in one process: the browser tests share one Chromium,
the worker tests do not compete with each other for the cores, and the tests
that read the demo share the one seeded copy of it (tests/conftest.py)."""

import pytest


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
