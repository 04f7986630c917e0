"""The home page and base.html drawn once per process and kept are the
markup the template engine draws from the same fragments: each to-do's shape
(`{% task_items %}`), the idle-timeout warning (`{% idle_warning %}`), what
is the same on every page (`{% once %}`), and every demo persona's home page
itself, drawn afresh and kept. The sign-out form's CSRF token is one Django's own check accepts, masked
anew on every page."""

import datetime as dt
import itertools
import re

import pytest
from django.conf import settings as django_settings
from django.middleware.csrf import CSRF_ALLOWED_CHARS, _unmask_cipher_token
from django.template import Context, engines
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.templatetags import home_tasks, navigation
from hmis_portal.core.addresses import address
from hmis_portal.core.demo import LOGINS
from hmis_portal.core.work import OpenTask
from tests.factories import MembershipFactory

TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value="|data-csrf-token=")([A-Za-z0-9]{64})"')
IDLE = re.compile(r'data-idle-seconds="\d+"')


def _draw(source, context):
    return engines["django"].from_string(source).render(context)


def _task(detail, due, overdue):
    return OpenTask(title="Sign <O'Neil & Sons'> agreement", url="/agencies/o-neil/?a=1&b=\"2\"",
                    section="On<boarding>", detail="Returned: \"wrong\" page & <b>date</b>" if detail else "",
                    due=dt.date(2026, 11, 25) if due else None, overdue=overdue)


def test_each_shape_of_to_do_is_the_one_the_template_engine_draws():
    home_tasks._drawn.clear()
    tasks = [_task(*shape) for shape in itertools.product([False, True], repeat=3)]
    engine = _draw('{% for task in tasks %}{% include "accounts/_task.html" with section=task.section '
                   'url=task.url title=task.title detail=task.detail due=task.due|deadline '
                   'overdue=task.overdue %}{% endfor %}', {"tasks": tasks})
    first = _draw("{% load home_tasks %}{% task_items tasks %}", {"tasks": tasks})
    kept = _draw("{% load home_tasks %}{% task_items tasks %}", {"tasks": tasks})
    assert first == kept == engine
    assert len(home_tasks._drawn) == 8  # one a shape
    assert "Sign &lt;O&#x27;Neil &amp; Sons&#x27;&gt; agreement" in kept and "<b>" not in kept
    assert kept.count("Overdue: Due by end of Wed, Nov 25") == 2 and kept.count("task-overdue") == 4


def _idle(minutes, seconds_left):
    return {"seconds_left": str(seconds_left), "window_seconds": str(30 * 60),
            "warning_seconds": str(minutes * 60), "warning": f"{minutes} minute{'' if minutes == 1 else 's'}"}


def test_the_idle_warning_is_the_one_the_template_engine_draws(rf):
    navigation._idle_drawn.clear()
    request = rf.get("/")
    for minutes, seconds_left in ((2, 1700), (2, 5), (1, 1799)):
        context = {"IDLE": _idle(minutes, seconds_left), "csrf_token": f"token{seconds_left}", "request": request}
        engine = _draw('{% include "includes/idle_warning.html" %}', context)
        kept = _draw("{% load navigation %}{% idle_warning %}", context)
        assert kept == engine
        assert f'data-idle-seconds="{seconds_left}"' in kept and f'data-csrf-token="token{seconds_left}"' in kept
    assert "signed out in 1 minute without" in kept
    assert len(navigation._idle_drawn) == 2  # one a policy


def test_what_is_the_same_on_every_page_is_drawn_once_and_follows_the_portals_name(settings):
    navigation._once.clear()
    inside = "{{ PORTAL_NAME }} {% static 'portal.css' %} {% url 'home' %} [{{ own }}]"
    context = {"PORTAL_NAME": settings.PORTAL_NAME, "own": "a page's own"}
    engine = _draw(inside, context)
    source = "{% load navigation %}{% once %}" + inside + "{% endonce %}"
    template = engines["django"].from_string(source)
    assert template.render(context) == engine.replace("a page&#x27;s own", "")  # only the portal's name inside
    settings.PORTAL_NAME = "LA CoC, HMIS Portal"
    assert template.render(context).startswith("LA CoC, HMIS Portal ")


def test_an_agency_page_address_is_the_address_django_reverses(organization):
    assert address("organization-detail", organization.slug) == reverse("organization-detail",
                                                                       args=[organization.slug])
    assert address("home") == reverse("home")


def test_each_page_masks_the_csrf_secret_anew(organization):
    person = MembershipFactory(organization=organization, persona="staff").user
    client = Client()
    client.force_login(person)
    pages = [client.get(reverse("home")).content.decode() for _ in range(2)]
    first, second = (TOKEN.search(page).group(2) for page in pages)
    secret = client.cookies[django_settings.CSRF_COOKIE_NAME].value
    for token in (first, second):
        assert len(token) == 64 and set(token) <= set(CSRF_ALLOWED_CHARS)
        assert _unmask_cipher_token(token) == secret
    assert first != second and first[:32] != second[:32]


def test_the_sign_out_forms_token_is_one_djangos_check_accepts(organization):
    person = MembershipFactory(organization=organization, persona="staff").user
    client = Client(enforce_csrf_checks=True)
    client.force_login(person)
    pages = [client.get(reverse("home")).content.decode() for _ in range(2)]
    tokens = [TOKEN.search(page).group(2) for page in pages]
    assert tokens[0] != tokens[1]
    assert client.post(reverse("logout"), {"csrfmiddlewaretoken": tokens[0][:-1] + "0"}).status_code == 403
    assert client.post(reverse("logout"), {"csrfmiddlewaretoken": tokens[1]}).status_code == 302
    assert client.get(reverse("home")).status_code == 302  # signed out


def _page(client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return IDLE.sub('data-idle-seconds="N"', TOKEN.sub(r'\1…"', response.content.decode()))


def test_each_demo_personas_home_is_the_same_drawn_afresh_and_kept(client, seeded_demo):
    for label, email in LOGINS:
        navigation._drawn.clear(), navigation._idle_drawn.clear(), navigation._once.clear()
        home_tasks._drawn.clear()
        client.force_login(User.objects.get(email=email))
        afresh, kept = _page(client), _page(client)
        assert afresh == kept, label
        assert afresh.count("<main") == 1, label
        assert ("Nothing waits on you" in afresh) != ("list-group-item" in afresh), label
