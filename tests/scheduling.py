"""The order in which a parallel run (`make test`: pytest-xdist, `--dist loadgroup`)
hands out its work.

pytest-xdist hands out the units of work (a group's tests, or one test of no
group) by their count of tests, the largest first, and a process takes its
next unit only when it is almost out of work. A group of few tests that take
minutes each (the accessibility crawls, three tests) went out after every
larger group, started when the run was half over, and the run ended waiting
for it alone. Here the units that take longest go first, longest first, each
to the next process that is free, and the many short tests fill in beside
them: the longest first keeps the last process to finish close to the others
(the run ends with short tests, not with one long one started late).

What a unit takes is in `SECONDS`, from a run's `--durations=0` on the
two-core machine `make test` runs on (for a group, the sum of its tests'
times): an estimate for the order only, so a figure off by half still puts
the long units first. Correct them from a run's `--durations=0` when they drift. A group or a slow test of its own that is
missing here goes out in pytest-xdist's own order, after these.
"""

from xdist.scheduler import LoadGroupScheduling

# A group's name (tests/conftest.py), or the file of a slow test in no group: seconds
# (a test of that file, for a file). Measured in one run of the whole suite under `-n 3` on
# a machine loaded five times over, about two and a half times what an idle one takes:
# only the order counts.
SECONDS = {
    # Less the long-name check's menu slide (13 s alone, tests/core/test_browser_long_names.py).
    "browser": 910,
    # Every page of every persona at 10 and 1,000 rows, in one process that makes the people who ask and grows
    # the rows once (tests/test_every_page_queries.py): the file alone took half the processor time it took
    # when each of three groups made its own people for every case (960 s in all here), at load 5.
    "every-page": 480,
    # Less axe's copy of the stylesheets and the icon asked for on each page: about a tenth,
    # in interleaved runs of the audits alone at load 7-11.
    "browser-admin": 310,
    "demo": 340,
    "worker": 330,
    # Less axe's copy of the stylesheets before each page's run (a tenth of a run, a twentieth of a page).
    "browser-crawl-la": 240,
    "browser-crawl-agency-admin": 230,
    "browser-crawl-mo-bos": 210,
    # The upgrade from the release before HMIS access had its own app migrates an empty database forward
    # (no longer the test database back): its test took half as long (42 s -> 21 s alone at load 8-9).
    "tests/hmis_access/test_upgrade.py": 55,
    # The admin's and the portal's lists at 10 and 1,000 rows, each measured once for all its tests
    # (tests/test_list_pages.py); one run at load 3-5, alone, scaled as the rest.
    "admin-lists": 60,
    "portal-lists": 30,
    # A floor check copies the migrated template and keeps its workers (benchmarks/_scratch.py, _workers.py).
    "tests/test_benchmarks.py": 60,
    # Every persona's home page at 10 and 1,000 rows, measured once for all its tests (tests/test_home_pages.py).
    "home-pages": 25,
    # The permission test of every view, its cases in six groups, each building its people once and each
    # case once (tests/test_view_permissions.py); one run of the file alone under `-n 3` at load 9-11.
    "view-permissions-0": 42,
    "view-permissions-1": 48,
    "view-permissions-2": 70,  # the first "Test connection" of its process imports the HMIS client
    "view-permissions-3": 37,
    "view-permissions-4": 27,
    "view-permissions-5": 39,
    # The SCIM provisioning tests, sharing a scim2-server per configuration in one process
    # (tests/hmis_accounts/test_scim_*.py): 53 s in one process at load 3-4, scaled as the rest; then
    # seven tenths of that once the portal kept what it discovered of a server (140 s -> 97 s, summed,
    # alone at load 7-8).
    "scim": 90,
}


def seconds(scope: str) -> float:
    """The estimate for a unit: its group's, or its test file's (0 when none)."""
    if scope in SECONDS:
        return SECONDS[scope]
    return SECONDS.get(scope.split("::", 1)[0], 0) if "::" in scope else 0


def longest_first(scopes: list[str]) -> list[str]:
    """The units in the order they are handed out: by their estimate, the
    longest first; those without one after, in the order they came (a stable sort)."""
    return sorted(scopes, key=lambda scope: -seconds(scope))


class LongestFirst(LoadGroupScheduling):
    """`--dist loadgroup`, the longest units first (`longest_first`)."""

    _ordered = False

    def _assign_work_unit(self, node):
        # The queue is complete at the first assignment (`schedule` fills it, then assigns).
        if not self._ordered:
            units = dict(self.workqueue)
            self.workqueue.clear()
            for scope in longest_first(list(units)):
                self.workqueue[scope] = units[scope]
            self._ordered = True
        super()._assign_work_unit(node)
