import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory


def pytest_configure(config):
    # Thousands of test users: a deliberately slow password hash would
    # dominate the suite's time and prove nothing.
    django_settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Uploaded documents go to a throw-away folder, never the developer's var/.
    private = tempfile.mkdtemp(prefix="hmis-private-")
    storages = dict(django_settings.STORAGES)
    storages["private"] = {**storages["private"], "OPTIONS": {"location": private}}
    storages["default"] = {**storages["default"], "OPTIONS": {"location": private, "base_url": None}}
    django_settings.STORAGES = storages
    django_settings.PRIVATE_MEDIA_ROOT = private
    # Django's storages were set up from the settings before this hook ran:
    # forget them, or uploads land in the checkout's var/private after all.
    from django.core.files.storage import storages as storage_handler
    from django.utils.functional import empty

    from hmis_portal.core.documents import private_storage

    storage_handler.__dict__.pop("backends", None)
    storage_handler._backends, storage_handler._storages = None, {}
    private_storage._wrapped = empty
    # The suite never depends on the caller's shell: a REDIS_URL exported there
    # must not put the cache (or, below, the tasks) on somebody's Redis.
    django_settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # A transactional test ends with the database as migrated (tests/database.py),
    # not empty: the next test, whichever it is, finds the CoC policy rows.
    from django.test import TransactionTestCase

    from tests import database

    TransactionTestCase._fixture_teardown = database.flush_and_restore
    _last_failed_without_groups(config)


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_modify_db_settings,
                    django_db_keepdb, django_db_createdb):
    """The test database, copied from a template migrated once (tests/database.py)
    instead of replaying every migration in every test process."""
    from tests import database

    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        old_name = database.set_up(verbosity=verbosity, rebuild=django_db_createdb)
    yield
    with django_db_blocker.unblock():
        try:
            database.tear_down(old_name, verbosity=verbosity, keepdb=django_db_keepdb)
        except Exception as exc:  # noqa: BLE001 - as pytest-django's own: warn, do not fail the run
            request.node.warn(pytest.PytestWarning(f"Error when trying to teardown test databases: {exc!r}"))


# Under pytest-xdist (`make test` runs `-n`), the tests of one group run one
# after another in one process: those that start a Celery worker (each on a
# Redis of its own) compete for the two cores; the browser tests share
# one Chromium per process. A test that takes minutes on its own (a crawl, the
# admin audit) has a group of its own, so that it runs beside the others, and
# the longest groups start first (tests/scheduling.py).
XDIST_GROUPS = {"worker": "worker", "browser": "browser"}


@pytest.hookimpl(optionalhook=True)  # so that `-p no:xdist` runs the suite in one process
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` with the longest groups handed out first (tests/scheduling.py)."""
    if config.getvalue("dist") == "loadgroup":
        from tests.scheduling import LongestFirst

        return LongestFirst(config, log)
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        groups = [group for marker, group in XDIST_GROUPS.items() if marker in item.keywords]
        # The tests that read the demo share one process, which seeds it once (`seeded_demo`).
        groups += ["demo"] if "seeded_demo" in getattr(item, "fixturenames", ()) else []
        if groups and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(groups[0]))
    _name_groups(config, items)
    vendor = django_settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    if vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); skipped on SQLite only")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


# The modules loaded once every test file is collected (tests/test_collection.py):
# each test process collects the whole suite, so what the files import at the
# top is paid by every process, whichever tests it then runs.
LOADED_BY_COLLECTION = pytest.StashKey[frozenset]()


def pytest_collection_finish(session):
    session.config.stash[LOADED_BY_COLLECTION] = frozenset(sys.modules)


def _name_groups(config, items):
    """In a test process of `--dist loadgroup`, end each grouped test's id with
    `@<group>`: the scheduler sends the tests whose ids end alike to one
    process. pytest-xdist's own hook sets `item._nodeid`, which this pytest no
    longer reads (a node's id is its `_id`), so without this every group was
    spread over all the processes."""
    if not (hasattr(config, "workerinput") and getattr(config.option, "loadgroup", False)):
        return
    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        if names and not _grouped(item.nodeid):
            nodeid = f"{item.nodeid}@{'_'.join(names)}"
            if hasattr(item, "_id"):
                from _pytest.nodeid import coerce_node_id

                item._id = coerce_node_id(nodeid)
            else:
                item._nodeid = nodeid


def _grouped(nodeid: str) -> bool:
    return nodeid.rfind("@") > nodeid.rfind("]")


def _last_failed_without_groups(config):
    """A run with `--last-failed` (`make test` reruns the failures alone) finds
    the failures of a grouped run under their ids without the `@<group>`.
    (The cache's own plugin has read them when this runs.)"""
    lastfailed = config.pluginmanager.get_plugin("lfplugin")
    if lastfailed is not None and lastfailed.lastfailed:
        lastfailed.lastfailed = {_without_group(nodeid): failed for nodeid, failed in lastfailed.lastfailed.items()}


def _without_group(nodeid):
    """`nodeid` (a string, or this pytest's `NodeId`) without its `@<group>`."""
    text = str(nodeid)
    if not _grouped(text):
        return nodeid
    text = text.rsplit("@", 1)[0]
    if isinstance(nodeid, str):
        return text
    from _pytest.nodeid import coerce_node_id

    return coerce_node_id(text)


@pytest.fixture(autouse=True)
def _celery_eager(request, settings):
    """Tasks run in-process unless a test is about the real worker."""
    from hmis_portal.celery import app

    if "worker" in request.keywords:
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _named_signals_on_commit(monkeypatch):
    deliver_named_signals_at_test_boundary(monkeypatch)


def deliver_named_signals_at_test_boundary(monkeypatch):
    """Named signals between stages are sent when the sender's transaction
    commits (`hmis_portal.core.signals.send_on_commit`). A test inside one
    transaction (the `db` fixture) never commits, so deliver them where the
    service's own transaction would commit: when the outermost atomic block
    the test's code opened ends without error (a block rolled back drops them,
    as a real rollback does), or at once outside any. Other work waiting for
    the commit (the outbox's delivery) is left as it was, to
    `django_capture_on_commit_callbacks`. Transactional tests commit for real."""
    from django.db import transaction
    from django.db.backends.base.base import BaseDatabaseWrapper

    from hmis_portal.core.signals import SignalDelivery

    def only_test_blocks(wrapper):
        return all(getattr(block, "_from_testcase", False) for block in wrapper.atomic_blocks)

    on_commit = BaseDatabaseWrapper.on_commit

    def on_commit_at_test_boundary(self, func, robust=False):
        if isinstance(func, SignalDelivery) and self.in_atomic_block and only_test_blocks(self):
            return func()
        return on_commit(self, func, robust)

    atomic_exit = transaction.Atomic.__exit__

    def exit_at_test_boundary(self, exc_type, exc_value, traceback):
        result = atomic_exit(self, exc_type, exc_value, traceback)
        wrapper = transaction.get_connection(self.using)
        if (exc_type is None and not wrapper.needs_rollback and wrapper.in_atomic_block
                and only_test_blocks(wrapper) and not getattr(self, "_from_testcase", False)):
            waiting = [entry for entry in wrapper.run_on_commit if isinstance(entry[1], SignalDelivery)]
            wrapper.run_on_commit = [entry for entry in wrapper.run_on_commit if entry not in waiting]
            for _, deliver, _ in waiting:
                deliver()
        return result

    monkeypatch.setattr(BaseDatabaseWrapper, "on_commit", on_commit_at_test_boundary)
    monkeypatch.setattr(transaction.Atomic, "__exit__", exit_at_test_boundary)


# --- Rows a module fixture builds once for many tests -------------------------


@contextmanager
def as_in_a_test():
    """Around rows a module fixture builds once for many tests
    (tests/test_view_permissions.py), what the autouse fixtures above give each
    test: an empty cache, tasks run in process, messages go to no real
    mailbox, and named signals are delivered where the code's own transaction
    would commit, so that the rows are those the same code makes inside a test."""
    from django.core.cache import cache
    from django.test import override_settings

    from hmis_portal.celery import app

    cache.clear()  # nothing kept from an earlier test's rows, rolled back since
    previous, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        with pytest.MonkeyPatch.context() as monkeypatch, override_settings(
                CELERY_TASK_ALWAYS_EAGER=True, EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            deliver_named_signals_at_test_boundary(monkeypatch)
            yield
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _mail_backend(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: counts kept there (the Join
    page's per-address limit) never carry over from another test."""
    from django.core.cache import cache

    cache.clear()


@dataclass(frozen=True)
class SeededDemo:
    output: str  # what seed_demo printed
    logins: tuple  # hmis_portal.core.demo.LOGINS after it: (label, email)
    debug: bool  # settings.DEBUG while it ran


def _seed_demo() -> SeededDemo:
    from io import StringIO

    from django.core.management import call_command

    from hmis_portal.core.demo import LOGINS

    out = StringIO()
    call_command("seed_demo", "--i-know-this-is-not-production", stdout=out)
    return SeededDemo(output=out.getvalue(), logins=tuple(LOGINS), debug=django_settings.DEBUG)


@pytest.fixture(scope="session")
def _demo_database(django_db_setup, django_db_blocker):
    """On PostgreSQL, a database of this process copied from the migrated
    template and given the default demo once (seed_demo takes seconds, and
    several tests only read what it made). None on SQLite."""
    from django.db import connections

    from hmis_portal.celery import app
    from tests import database

    connection = connections["default"]
    if connection.vendor != "postgresql":
        yield None
        return
    test_name = connection.settings_dict["NAME"]
    name = f"{test_name}_demo"
    eager = app.conf.task_always_eager, django_settings.CELERY_TASK_ALWAYS_EAGER
    with django_db_blocker.unblock():
        database.clone_template(name)
        database.use(name)
        # As every test seeds: tasks in process, messages to no real mailbox.
        app.conf.task_always_eager = django_settings.CELERY_TASK_ALWAYS_EAGER = True
        backend, django_settings.EMAIL_BACKEND = (django_settings.EMAIL_BACKEND,
                                                  "django.core.mail.backends.locmem.EmailBackend")
        try:
            seeded = _seed_demo()
        finally:
            app.conf.task_always_eager, django_settings.CELERY_TASK_ALWAYS_EAGER = eager
            django_settings.EMAIL_BACKEND = backend
            database.use(test_name)
    yield name, seeded
    with django_db_blocker.unblock():
        database.drop(name)


@pytest.fixture
def seeded_demo(request, _demo_database, django_db_blocker):
    """The default demo, for a test that reads it (and may change it: the
    change is rolled back after the test, as with the `db` fixture). A test
    using it takes no `django_db` mark: on PostgreSQL it runs in the demo
    database seeded once per process, inside a transaction of its own; on
    SQLite it seeds its own test database."""
    from django.db import connections, transaction

    from hmis_portal.core.demo import LOGINS
    from tests import database

    if request.node.get_closest_marker("django_db"):
        raise pytest.UsageError("a test using seeded_demo takes no django_db mark")
    if _demo_database is None:
        request.getfixturevalue("db")
        yield _seed_demo()
        return
    name, seeded = _demo_database
    connection = connections["default"]
    test_name = connection.settings_dict["NAME"]
    with django_db_blocker.unblock():
        database.use(name)
        LOGINS[:] = seeded.logins
        atomic = transaction.atomic()
        atomic._from_testcase = True  # named signals are delivered at its blocks' ends, as in a `db` test
        atomic.__enter__()
        try:
            yield seeded
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            database.use(test_name)


@pytest.fixture
def organization(db):
    return OrganizationFactory()


@pytest.fixture
def other_organization(db):
    return OrganizationFactory()


@pytest.fixture
def owner(organization):
    """The agency's Executive Director."""
    return MembershipFactory(organization=organization, persona="executive_director").user


@pytest.fixture
def member(organization):
    """Staff at the agency, with no special persona."""
    return MembershipFactory(organization=organization, persona="staff").user


@pytest.fixture
def outsider(other_organization):
    """Holds every persona, at another agency."""
    user = UserFactory()
    for persona in ("executive_director", "program_manager", "agency_administrator", "staff"):
        MembershipFactory(user=user, organization=other_organization, persona=persona)
    return user


@pytest.fixture
def policy_rows(transactional_db):
    """For transactional tests without a browser (threads, the worker): the
    CoC policy rows the data migrations load. A flush empties them, and puts
    them back at once from the migrated template (tests/database.py), so a
    transactional test always starts with them; this fixture says the test
    relies on them, and checks that they are there."""
    from django.contrib.auth.models import Group

    assert Group.objects.exists(), "the migrated policy rows are missing (see tests/database.py)"


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture(scope="session")
def _chromium():
    import os

    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # a test makes around it are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(_chromium, live_server, policy_rows):
    context = _chromium.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def client():
    """A test client whose `force_login` also completes the second factor
    for people who need one (tests/two_factor.py)."""
    from tests.two_factor import PortalClient

    return PortalClient()
