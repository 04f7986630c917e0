"""base.html's menu (`{% navigation %}`) is drawn once per process for each
menu, and what a page shows is what the template engine draws from the same
fragment for that person: their name and links, the sign-out form's own CSRF
token. What the menu and the other context processors show is read before
the page is drawn: drawing it asks the database nothing."""

import re

from django.contrib.messages.context_processors import messages
from django.db import connection
from django.template import RequestContext, engines
from django.test.signals import template_rendered
from django.test.utils import CaptureQueriesContext

from accounts.context_processors import menu
from accounts.models import Membership, User
from accounts.signin.context_processors import sign_in
from accounts.templatetags import navigation
from hmis_portal.core import cached
from hmis_portal.core.context_processors import portal
from hmis_portal.core.demo import LOGINS
from tests.factories import MembershipFactory

PAGE = "/accounts/password_change/"
TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+(")')


def _drawn(request, source):
    """`source` drawn for `request` as base.html is drawn, the CSRF token masked out."""
    html = engines["django"].from_string(source).template.render(RequestContext(request))
    assert html.count("csrfmiddlewaretoken") == 1
    return TOKEN.sub(r"\1…\2", html)


def _menus(client, email):
    client.force_login(User.objects.get(email=email))
    response = client.get(PAGE)
    assert response.status_code == 200
    request = response.wsgi_request
    token = cached._memo.set({})  # as within the request
    try:
        engine = _drawn(request, '{% include "includes/navigation.html" %}')
        first = _drawn(request, "{% load navigation %}{% navigation %}")
        kept = _drawn(request, "{% load navigation %}{% navigation %}")
    finally:
        cached._memo.reset(token)
    assert engine in response.content.decode().replace(
        TOKEN.search(response.content.decode()).group(0), 'name="csrfmiddlewaretoken" value="…"')
    return engine, first, kept


def test_each_demo_personas_menu_is_the_one_the_template_engine_draws(client, seeded_demo):
    navigation._drawn.clear()
    for label, email in LOGINS:
        engine, first, kept = _menus(client, email)
        assert first == engine, label
        assert kept == engine, label


def test_people_with_the_same_menu_each_see_their_own_name_and_token(client, organization):
    navigation._drawn.clear()
    names = ["Ana Ruiz", "<b>O'Neil & Sons</b>"]
    people = [MembershipFactory(organization=organization, persona="staff", user__full_name=name).user
              for name in names]
    for person, name in zip(people, names):
        engine, first, kept = _menus(client, person.email)
        assert first == kept == engine
    assert len(navigation._drawn) == 1  # one menu, drawn once
    assert "&lt;b&gt;O&#x27;Neil &amp; Sons&lt;/b&gt;" in engine and "<b>" not in engine
    tokens = {TOKEN.search(client.get(PAGE).content.decode()).group(0) for _ in range(2)}
    assert len(tokens) == 2  # masked anew on every page, as Django's tag does


def test_drawing_a_page_asks_the_database_nothing_its_view_did_not_read(client, seeded_demo):
    """The menu's predicates answer from the person's standing, read once per
    request; the other context processors read the session and settings."""
    for label, email in LOGINS:
        client.force_login(User.objects.get(email=email))
        client.get(PAGE)
        at_drawing = []
        with CaptureQueriesContext(connection) as captured:
            def drawing(sender, **kwargs):
                at_drawing.append(len(captured.captured_queries))
            template_rendered.connect(drawing)
            try:
                response = client.get(PAGE)
            finally:
                template_rendered.disconnect(drawing)
        assert response.status_code == 200, label
        assert at_drawing and len(captured.captured_queries) == at_drawing[0], (label, captured.captured_queries)
        request = response.wsgi_request
        token = cached._memo.set({})
        try:
            from accounts import access

            access.standing(request.user)  # what the view hands them: the person's standing, read
            with CaptureQueriesContext(connection) as processors:
                for processor in (portal, sign_in, messages, menu):
                    for value in processor(request).values():
                        str(value)  # a lazy value (the menu) is read here
            assert processors.captured_queries == [], label
        finally:
            cached._memo.reset(token)
