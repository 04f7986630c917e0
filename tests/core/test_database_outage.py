"""A database outage answers every page with 503 "temporarily unavailable"
and a Retry-After, for people and for the proxy in front, not the generic
500 page; and it writes one log line per kind of failure, not a traceback
per request."""

import logging

import pytest
from django.db import connections
from django.db.utils import InterfaceError, OperationalError
from django.test import Client

from hmis_portal.core import outage
from tests.faults import spare_port


@pytest.fixture
def database_down(django_db_blocker):
    """The portal's database stops answering: its port refuses connections."""
    connection = connections["default"]
    previous = dict(connection.settings_dict)
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(spare_port()))
        outage.reset()
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(previous)
            outage.reset()


@pytest.mark.postgres
def test_every_request_during_an_outage_is_a_503_with_retry_after_and_one_log_line(database_down, caplog):
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "a-session-the-database-would-hold"
    with caplog.at_level(logging.INFO):
        responses = [client.get(path) for path in ["/", "/accounts/login/", "/training/sessions/"] * 10]
    assert [r.status_code for r in responses] == [503] * 30
    assert all(int(r["Retry-After"]) > 0 for r in responses)
    page = responses[0].content.decode()
    assert "temporarily unavailable" in page and "Something went wrong" not in page
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].exc_info is None and "\n" not in errors[0].getMessage()
    assert "database" in errors[0].getMessage().lower()


def test_each_kind_of_failure_is_logged_once_then_counted(caplog):
    outage.reset()
    refused = OperationalError('connection to server at "db" failed: Connection refused')
    closed = InterfaceError("connection already closed")
    with caplog.at_level(logging.INFO, logger="hmis_portal.core.outage"):
        for _ in range(25):
            outage.unavailable_response(refused)
            outage.unavailable_response(closed)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert any("Connection refused" in line for line in lines) and any("already closed" in line for line in lines)
    # Once the window has passed, the kind is logged again with how many were not.
    outage.reset_window()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hmis_portal.core.outage"):
        outage.unavailable_response(refused)
    [again] = [r.getMessage() for r in caplog.records]
    assert "24 more" in again
    outage.reset()


def test_other_errors_still_get_the_500_page():
    from django.test import RequestFactory

    from hmis_portal.core.views import server_error

    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and not response.has_header("Retry-After")
