"""A request that reuses a database connection checks it without a round trip
(hmis_portal/core/postgresql): the barest signed-in page asks the database
for the person and their authenticator only, and a connection the server
ended is still replaced before the request's first query."""

import time

import psycopg2
import pytest
from django.db import connections

pytestmark = pytest.mark.postgres


class _CountingConnection:
    """A psycopg connection that counts the cursors asked of it (each a round trip to come)."""

    def __init__(self, raw):
        self.raw, self.cursors = raw, 0

    def cursor(self, *args, **kwargs):
        self.cursors += 1
        return self.raw.cursor(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.raw, name)


def _as_a_request_starts(connection):
    """What Django does to a kept connection when the next request begins."""
    connection.health_check_enabled, connection.health_check_done = True, False


@pytest.mark.django_db
def test_a_kept_connection_is_checked_without_asking_the_database():
    connection = connections["default"]
    connection.ensure_connection()
    raw = connection.connection
    counting = connection.connection = _CountingConnection(raw)
    try:
        _as_a_request_starts(connection)
        connection.close_if_health_check_failed()
        assert counting.cursors == 0
        assert connection.connection is counting  # kept, not replaced
    finally:
        connection.connection = raw


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_before_the_first_query():
    from accounts.models import User

    connection = connections["default"]
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    ended = connection.connection
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        other.autocommit = True
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    time.sleep(0.5)  # the server's goodbye reaches the socket
    _as_a_request_starts(connection)
    connection.close_if_health_check_failed()
    assert connection.connection is not ended
    assert User.objects.count() >= 0  # the request's first query, on a new connection
    assert connection.connection is not None and connection.connection is not ended
