"""The one shape of a button that posts a change (hmis_portal.core.views.run_action):
the service's refusal is a message and nothing else, its success the page's
message, and the person lands back on the page either way."""

import pytest
from django.contrib.messages import INFO, SUCCESS, get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import RequestFactory

from hmis_portal.core.views import run_action


def _request():
    request = RequestFactory().post("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def _said(request):
    return [(message.level, message.message) for message in get_messages(request)]


def test_success_says_so_and_goes_back():
    request = _request()
    response = run_action(request, lambda: 3, lambda n: f"{n} done.", to="/back/")
    assert (response.status_code, response.url) == (302, "/back/")
    assert _said(request) == [(SUCCESS, "3 done.")]


def test_the_result_can_choose_the_message_level():
    request = _request()
    run_action(request, lambda: "waiting", lambda state: (INFO, f"Requested; {state}."), to="/back/")
    assert _said(request) == [(INFO, "Requested; waiting.")]


def test_a_refusal_is_an_error_message_and_the_same_way_back():
    request = _request()
    response = run_action(request, lambda: (_ for _ in ()).throw(ValidationError("Already done.")), "Done.",
                          to="/back/")
    assert response.url == "/back/"
    assert [text for _, text in _said(request)] == ["Already done."]


def test_refusals_not_named_are_not_swallowed():
    with pytest.raises(PermissionDenied):
        run_action(_request(), lambda: (_ for _ in ()).throw(PermissionDenied("No.")), "Done.", to="/back/")
