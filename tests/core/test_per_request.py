"""What every page of a signed-in person reads is read once per request and
kept between requests until it changes (hmis_portal/core/cached.py): the
session, the person's standing (memberships, personas, groups), the policy
rows and the holidays. A change made through the portal is seen on the next
request; a session ended in the database is not resumed from the cache."""

import datetime as dt

import pytest
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services as account_services
from accounts.access import standing_cache_name
from accounts.models import Membership
from hmis_access.models import AccessPolicy
from hmis_portal.core import cached
from hmis_portal.core.cached import RequestMemoMiddleware
from hmis_portal.core.calendar import BusinessCalendar
from hmis_portal.core.models import Holiday
from tests.factories import MembershipFactory, StaffFactory
from tests.training.factories import participating

pytestmark = pytest.mark.django_db

# The barest signed-in page: a form of three fields and the menu around it.
MINIMAL_PAGE = "/accounts/password_change/"


def _queries(client, path):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response
    return [query["sql"] for query in captured.captured_queries]


def _in_a_request(read):
    """`read()` as a web request runs it (the request's memo open)."""
    return RequestMemoMiddleware(lambda request: read())(RequestFactory().get("/"))


def _second_factor_asked(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("two-factor-verify")) or \
        response.status_code == 302 and response["Location"].startswith(reverse("two-factor-setup"))


@pytest.mark.parametrize("change", ["removed", "unconfirmed", "turned off", "another person's"])
def test_an_authenticator_removed_or_disabled_stops_counting_on_the_next_request(client, change):
    """The verified authenticator is kept in the cache, never past a change:
    removed, unconfirmed, or turned off by its owner, the next page asks for
    the second factor again."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.signin import services as signin_services

    staff = StaffFactory(groups=["CoC provisioning"])
    client.force_login(staff)
    assert client.get(MINIMAL_PAGE).status_code == 200
    assert client.get(MINIMAL_PAGE).status_code == 200  # the authenticator from the cache
    device = TOTPDevice.objects.get(user=staff, confirmed=True)
    if change == "removed":
        device.delete()
    elif change == "unconfirmed":
        device.confirmed = False
        device.save()
    elif change == "turned off":
        TOTPDevice.objects.filter(user=staff).delete()  # as the services remove them: a queryset's delete
    else:
        device.user = StaffFactory(groups=["CoC provisioning"])
        device.save()
    assert _second_factor_asked(client.get(MINIMAL_PAGE))
    assert _second_factor_asked(client.get(reverse("home")))


@pytest.mark.parametrize("who", ["CoC staff", "agency user"])
def test_a_minimal_signed_in_page_costs_one_round_trip(client, organization, who):
    if who == "CoC staff":
        user = StaffFactory(groups=["CoC provisioning"])
    else:
        user = MembershipFactory(organization=organization, persona="program_manager").user
    client.force_login(user)  # staff: with a confirmed authenticator, verified
    _queries(client, MINIMAL_PAGE)  # the first request fills the cache
    queries = _queries(client, MINIMAL_PAGE)
    # The person (Django checks their password hash each request); the
    # authenticator that verified a staff session comes from the cache until
    # it changes (below); nothing else.
    assert len(queries) <= 1, "\n".join(queries)
    assert not any("django_session" in sql for sql in queries)
    page = client.get(MINIMAL_PAGE).content.decode()
    if who == "agency user":
        assert organization.name in page  # the menu names the person's agency, from their standing
    else:
        assert "Provisioning queue" in page


def test_the_program_managers_home_reads_policy_holidays_and_memberships_once(client, organization):
    participating(organization, "permanent-housing")
    user = MembershipFactory(organization=organization, persona="program_manager").user
    client.force_login(user)
    from django.core.cache import cache

    cache.clear()  # a cold cache: the request reads each of them itself, once
    queries = _queries(client, reverse("home"))
    for table in ("accounts_accesspolicy", "core_holiday", "accounts_membership"):
        reads = [sql for sql in queries if f'"{table}"' in sql]
        assert len(reads) <= 1, f"{table} read {len(reads)} times:\n" + "\n".join(reads)


@pytest.mark.parametrize("how", ["save", "update"])
def test_a_policy_change_is_seen_on_the_next_request(client, how):
    staff = StaffFactory(groups=["CoC provisioning"])
    client.force_login(staff)
    AccessPolicy.objects.filter(pk=AccessPolicy.current().pk).update(access_requests_need_approval=False)
    assert "Access requests to approve" not in client.get(reverse("home")).content.decode()
    assert "Access requests to approve" not in client.get(reverse("home")).content.decode()  # from the cache
    if how == "save":  # as the admin and the policy pack do
        policy = AccessPolicy.current()
        policy.access_requests_need_approval = True
        policy.save()
    else:
        AccessPolicy.objects.filter(pk=1).update(access_requests_need_approval=True)
    assert "Access requests to approve" in client.get(reverse("home")).content.decode()


def _cache_round_trips(monkeypatch):
    """The calls a request makes to the shared cache, the session's included."""
    from django.core.cache import caches

    backend, calls, depth = caches["default"], [], [0]
    for method in ("get", "get_many", "set", "set_many", "add"):
        def counted(*args, _method=getattr(backend, method), _name=method, **kwargs):
            keys = args[0] if args else ""
            if not depth[0]:
                calls.append((_name, keys))
            depth[0] += 1  # the local-memory cache's get_many calls its get: one call, as Redis's MGET is
            try:
                return _method(*args, **kwargs)
            finally:
                depth[0] -= 1
        monkeypatch.setattr(backend, method, counted)
    return calls


def test_what_a_page_keeps_costs_one_round_trip_to_the_cache(client, organization, monkeypatch):
    participating(organization, "permanent-housing")
    user = MembershipFactory(organization=organization, persona="program_manager").user
    client.force_login(user)
    client.get(reverse("home"))  # the process has now seen what the page reads
    calls = _cache_round_trips(monkeypatch)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("home")).status_code == 200
    # The session, and the versions of the standing, policy rows and holidays, in one call (the person's own
    # standing's because the session's previous request read it); their values from this process's copies.
    assert len(calls) == 1 and calls[0][0] == "get_many", calls
    assert KEY_PREFIX in str(calls[0][1]), calls
    assert cached._version_key(standing_cache_name(user.pk)) in calls[0][1], calls
    assert not any(table in query["sql"] for query in captured.captured_queries
                   for table in ('"accounts_membership"', '"core_holiday"', '"accounts_accesspolicy"'))


def test_a_process_copy_is_read_only_at_the_versions_the_cache_names(client, monkeypatch):
    """Another process's change bumps the version in the shared cache: this
    process's copy of the old rows is then never read."""
    staff = StaffFactory(groups=["CoC provisioning"])
    client.force_login(staff)
    AccessPolicy.objects.filter(pk=AccessPolicy.current().pk).update(access_requests_need_approval=False)
    assert "Access requests to approve" not in client.get(reverse("home")).content.decode()
    assert "Access requests to approve" not in client.get(reverse("home")).content.decode()  # from the copy
    # As another process does it: the rows and the version in the shared cache, nothing told to this one.
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute(f'UPDATE "{AccessPolicy._meta.db_table}" SET access_requests_need_approval = TRUE')
    from django.core.cache import cache

    cache.set(cached._version_key(AccessPolicy.cache_name()), "bumped elsewhere", None)
    assert "Access requests to approve" in client.get(reverse("home")).content.decode()


def test_each_request_gets_its_own_objects_from_a_process_copy():
    first = _in_a_request(AccessPolicy.current)
    first.access_requests_need_approval = "changed in one request only"
    again = _in_a_request(AccessPolicy.current)
    assert again.access_requests_need_approval != "changed in one request only"


def test_a_missed_invalidation_lives_no_longer_than_the_kept_copies(client, settings):
    settings.PER_REQUEST_CACHE_SECONDS = 0
    staff = StaffFactory(groups=["CoC provisioning"])
    client.force_login(staff)
    AccessPolicy.objects.filter(pk=AccessPolicy.current().pk).update(access_requests_need_approval=False)
    assert "Access requests to approve" not in client.get(reverse("home")).content.decode()
    from django.db import connection as db

    with db.cursor() as cursor:  # raw SQL: nothing bumps a version
        cursor.execute(f'UPDATE "{AccessPolicy._meta.db_table}" SET access_requests_need_approval = TRUE')
    assert "Access requests to approve" in client.get(reverse("home")).content.decode()


def test_while_the_cache_cannot_give_versions_no_process_copy_is_read(client, monkeypatch):
    staff = StaffFactory(groups=["CoC provisioning"])
    client.force_login(staff)
    AccessPolicy.objects.filter(pk=AccessPolicy.current().pk).update(access_requests_need_approval=False)
    from django.core.cache import caches

    backend = caches["default"]
    # As ResilientRedisCache answers while Redis is down: every read a miss, every write skipped.
    monkeypatch.setattr(backend, "get", lambda key, default=None, version=None: default)
    monkeypatch.setattr(backend, "get_many", lambda keys, version=None: {})
    for write in ("add", "set", "set_many"):
        monkeypatch.setattr(backend, write, lambda *args, **kwargs: None)
    assert "Access requests to approve" not in client.get(reverse("home")).content.decode()
    from django.db import connection as db

    with db.cursor() as cursor:  # a change nobody could tell the cache of
        cursor.execute(f'UPDATE "{AccessPolicy._meta.db_table}" SET access_requests_need_approval = TRUE')
    assert "Access requests to approve" in client.get(reverse("home")).content.decode()


def test_a_holiday_added_or_removed_is_seen_on_the_next_request():
    day = dt.date(2031, 3, 4)  # a Tuesday
    assert _in_a_request(BusinessCalendar.load).is_business_day(day)
    assert _in_a_request(BusinessCalendar.load).is_business_day(day)  # kept in the cache
    with CaptureQueriesContext(connection) as captured:
        _in_a_request(BusinessCalendar.load)
    assert len(captured) == 0
    holiday = Holiday.objects.create(date=day, name="Office closed")
    assert not _in_a_request(BusinessCalendar.load).is_business_day(day)
    holiday.delete()
    assert _in_a_request(BusinessCalendar.load).is_business_day(day)
    Holiday.objects.bulk_create([Holiday(date=day, name="Office closed")])
    assert not _in_a_request(BusinessCalendar.load).is_business_day(day)


def test_a_change_rolled_back_leaves_nothing_in_the_cache():
    day = dt.date(2031, 3, 5)

    def add_read_and_roll_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            Holiday.objects.create(date=day, name="Never")
            assert not BusinessCalendar.load().is_business_day(day)  # this transaction sees its own change
            raise RuntimeError

    _in_a_request(add_read_and_roll_back)
    assert _in_a_request(BusinessCalendar.load).is_business_day(day)


def test_a_membership_removed_is_seen_on_the_next_request(client, organization, other_organization):
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    person = MembershipFactory(organization=organization, persona="staff").user
    MembershipFactory(user=person, organization=other_organization, persona="staff")
    client.force_login(person)
    participation = reverse("onboarding:participation", args=[organization.slug])
    client.get(reverse("home"))
    assert participation in client.get(reverse("home")).content.decode()
    account_services.membership_remove(actor=manager,
                                       membership=Membership.objects.get(user=person, organization=organization))
    page = client.get(reverse("home")).content.decode()
    assert participation not in page
    assert organization.name not in page


def test_a_group_left_is_seen_on_the_next_request(client):
    staff = StaffFactory(groups=["CoC provisioning"])
    client.force_login(staff)
    assert "Provisioning queue" in client.get(reverse("home")).content.decode()
    staff.groups.clear()
    assert "Provisioning queue" not in client.get(reverse("home")).content.decode()


def test_a_session_ended_in_the_database_is_not_resumed_from_the_cache(client, organization):
    user = MembershipFactory(organization=organization, persona="program_manager").user
    client.force_login(user)
    assert client.get(MINIMAL_PAGE).status_code == 200
    assert client.get(MINIMAL_PAGE).status_code == 200  # read from the cache
    Session.objects.filter(session_key=client.session.session_key).delete()
    response = client.get(MINIMAL_PAGE)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("data", [None, {"old_password": "wrong", "new_password1": "a", "new_password2": "b"}])
def test_the_password_form_is_drawn_as_crispy_draws_it(organization, data):
    """The minimal page draws its three fields with includes/fields.html, not
    crispy's per-field templates: the same markup, errors and all."""
    from django.contrib.auth.forms import PasswordChangeForm
    from django.template import engines
    from django.test.html import parse_html

    user = MembershipFactory(organization=organization).user
    engine = engines["django"]
    crispy = engine.from_string("{% load crispy_forms_tags %}{{ form|crispy }}")
    plain = engine.from_string('{% include "includes/fields.html" %}')
    form = PasswordChangeForm(user, data=data)
    assert parse_html(plain.render({"form": form})) == parse_html(crispy.render({"form": form}))


def test_the_access_matrix_and_the_forms_every_checklist_reads_are_kept_until_they_change(policy_rows):
    """The access matrix, the CES roles and the active forms with their blank
    versions are kept between requests; a change to any of them, an m2m
    change of a matrix row included, is seen on the next request."""
    from hmis_access.checklist import access_matrix
    from training.models import AccessCapability, CESRole, FormTemplate, RequiredForm
    from training.selectors import active_forms_with_templates
    from tests.training.factories import PDF

    def read():
        ladder, matrix = access_matrix()
        return ladder, matrix, active_forms_with_templates()

    _in_a_request(read)
    with CaptureQueriesContext(connection) as captured:
        _in_a_request(read)
    assert len(captured) == 0
    capability, role = AccessCapability.objects.first(), CESRole.objects.filter(active=True).first()
    capability.roles.remove(role)
    assert capability.name not in _in_a_request(access_matrix)[1].get(role.pk, [])
    capability.roles.add(role)
    assert capability.name in _in_a_request(access_matrix)[1][role.pk]
    CESRole.objects.filter(pk=role.pk).update(active=False)
    assert role.pk not in {r.pk for r in _in_a_request(access_matrix)[0]}
    form = RequiredForm.objects.filter(active=True).first()
    from django.core.files.base import ContentFile

    template = FormTemplate.objects.create(form=form, version=99, document=ContentFile(PDF, name="blank.pdf"),
                                           sha256="0" * 64)
    forms = {f.pk: f for f in _in_a_request(active_forms_with_templates)}
    assert forms[form.pk].current_template.pk == template.pk
    RequiredForm.objects.filter(pk=form.pk).update(active=False)
    assert form.pk not in {f.pk for f in _in_a_request(active_forms_with_templates)}


def test_the_courses_a_course_also_covers_are_kept_until_a_link_changes(policy_rows):
    from training.models import Course

    _in_a_request(Course.covers)
    with CaptureQueriesContext(connection) as captured:
        _in_a_request(Course.covers)
    assert len(captured) == 0
    outer, inner = Course.objects.order_by("pk")[:2]
    outer.also_satisfies.add(inner)
    assert inner.pk in _in_a_request(Course.covers)[outer.pk]
    outer.also_satisfies.remove(inner)
    assert inner.pk not in _in_a_request(Course.covers).get(outer.pk, frozenset())


def test_the_courses_each_role_requires_are_kept_until_a_role_a_course_or_a_link_changes(policy_rows):
    from training.models import CESRole, Course

    def titles(role):
        return [course.title for course in _in_a_request(CESRole.courses_by_role).get(role.pk, ())]

    _in_a_request(CESRole.courses_by_role)
    with CaptureQueriesContext(connection) as captured:
        _in_a_request(CESRole.courses_by_role)
    assert len(captured) == 0
    role = CESRole.objects.filter(required_courses__isnull=False).order_by("pk").first()
    course = role.required_courses.order_by("pk").first()
    assert course.title in titles(role)
    role.required_courses.remove(course)
    assert course.title not in titles(role)
    role.required_courses.add(course)
    assert course.title in titles(role)
    Course.objects.filter(pk=course.pk).update(title="Renamed course")
    assert "Renamed course" in titles(role)


def test_a_run_reads_each_thing_once_and_again_after_a_change_to_it_or_what_it_depends_on(policy_rows):
    from training.models import CESRole, Course

    day = dt.date(2031, 3, 4)  # a Tuesday
    with cached.for_one_run():
        assert BusinessCalendar.load().is_business_day(day)
        role = CESRole.objects.filter(required_courses__isnull=False).order_by("pk").first()
        course = role.required_courses.order_by("pk").first()
        assert course.pk in {c.pk for c in CESRole.courses_by_role()[role.pk]}
        policy = AccessPolicy.current()
        with CaptureQueriesContext(connection) as captured:
            BusinessCalendar.load()
            CESRole.courses_by_role()
            again = AccessPolicy.current()
        assert len(captured) == 0
        # Each caller its own copy of a policy row, as within a request.
        assert again is not policy and again.pk == policy.pk
        Holiday.objects.create(date=day, name="Office closed")
        assert not BusinessCalendar.load().is_business_day(day)
        # A name it depends on (the courses'), not its own.
        Course.objects.filter(pk=course.pk).update(title="Renamed course")
        assert "Renamed course" in [c.title for c in CESRole.courses_by_role()[role.pk]]
    # Outside the run, each read loads again.
    with CaptureQueriesContext(connection) as captured:
        BusinessCalendar.load()
        BusinessCalendar.load()
    assert len(captured) == 2


def test_the_signed_in_person_is_one_lazy_step_away(client, organization):
    """django-otp wraps request.user in a lazy object of its own: around the
    person, not around AuthenticationMiddleware's lazy object, or every read
    of request.user on a page (the menu asks a dozen) passes through both."""
    from django.utils.functional import LazyObject

    person = MembershipFactory(organization=organization, persona="program_manager").user
    client.force_login(person)
    request = client.get(MINIMAL_PAGE).wsgi_request
    assert request.user.pk == person.pk
    assert not isinstance(request.user._wrapped, LazyObject)
    assert request.user._wrapped is request.user._wrapped.is_verified.args[0]  # django-otp's fields on the person
