"""What a transactional test leaves behind is the database as migrated: the
next test, whichever it is, finds the CoC's policy rows with their ids and
nothing any earlier test made (tests/database.py)."""

import pytest
from django.db import connection

from accounts.models import User
from hmis_portal.core.audit import record_event
from tests import database
from tests.factories import MembershipFactory
from training.models import Course


class _TransactionalTest:
    """What `flush_and_restore` reads of Django's TransactionTestCase."""

    available_apps = None

    def _databases_names(self, include_mirrors=False):
        return ["default"]


def _counts() -> dict[str, int]:
    quote = connection.ops.quote_name
    tables = sorted(connection.introspection.django_table_names(only_existing=True, include_views=False))
    with connection.cursor() as cursor:
        return {table: (cursor.execute(f"SELECT count(*) FROM {quote(table)}"), cursor.fetchone()[0])[1]
                for table in tables}


@pytest.mark.django_db(transaction=True)
def test_after_a_transactional_test_the_database_is_as_migrated_again():
    as_migrated = _counts()
    course = Course.objects.order_by("pk").first()
    title = course.title
    membership = MembershipFactory()
    record_event(actor=membership.user, subject=membership.organization, verb="tested", reason="a row to clear")
    Course.objects.filter(pk=course.pk).update(title="Changed by a test")
    Course.objects.exclude(pk=course.pk).order_by("pk")[:1].get().delete()
    assert _counts() != as_migrated

    database.flush_and_restore(_TransactionalTest())

    assert _counts() == as_migrated
    assert not User.objects.exists()
    # The policy rows are back as the migrations wrote them, with their ids.
    assert Course.objects.get(pk=course.pk).title == title


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_template_a_process_copies_later_is_the_one_its_database_came_from():
    # What copies it again later (the seeded demo's database, `clone_template`) names it from the
    # test database's settings: the same in a run of one process as in a parallel one.
    template = database._template_name(connection, database.migrations_key())
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
        assert cursor.fetchone() is not None, f"no template {template}"
