"""An organization asks to join; the implementation team accepts (agency created, leads invited) or declines."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts.models import Invitation, Organization
from hmis_portal.core.audit import events_for
from hmis_portal.core.models import Notification
from onboarding import services
from onboarding.models import CESOrganizationRole, JoinRequest
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def implementer():
    return StaffFactory(groups=["CoC implementation"], email="implementer@example.org")


def ask(**overrides):
    data = {"organization_name": "Poplar Youth Services", "contact_name": "Rae Poplar",
            "contact_email": "rae@poplar.example.org", "phone": "", "ces_roles": [], "note": ""}
    return services.join_request_create(**{**data, **overrides})


def test_the_public_page_records_a_request_for_the_implementation_team(client, implementer):
    page = client.get(reverse("onboarding:join"))
    assert page.status_code == 200 and "Ask to join" in page.content.decode()
    role = CESOrganizationRole.objects.get(code="housing-provider")
    response = client.post(reverse("onboarding:join"), {
        "organization_name": "Poplar Youth Services", "contact_name": "Rae Poplar",
        "contact_email": "Rae@Poplar.example.org", "ces_roles": [role.pk], "note": "Youth shelter in SPA 2"})
    assert response.status_code == 200 and "was received" in response.content.decode()
    join_request = JoinRequest.objects.get()
    assert join_request.contact_email == "rae@poplar.example.org"
    assert list(join_request.ces_roles.all()) == [role]
    assert Notification.objects.filter(to_email="implementer@example.org", subject__contains="Poplar").exists()
    assert Notification.objects.filter(to_email="rae@poplar.example.org").exists()
    # Sent twice (a double click): one request.
    client.post(reverse("onboarding:join"), {"organization_name": "Poplar Youth Services",
                                             "contact_name": "Rae Poplar", "contact_email": "rae@poplar.example.org"})
    assert JoinRequest.objects.count() == 1


def test_the_public_page_validates_its_input(client):
    response = client.post(reverse("onboarding:join"), {"organization_name": "Bad\x07name", "contact_name": "",
                                                        "contact_email": "not-an-address"})
    assert response.status_code == 200 and not JoinRequest.objects.exists()
    form = response.context["form"]
    assert {"organization_name", "contact_name", "contact_email"} <= set(form.errors)


def test_accepting_creates_the_agency_and_invites_its_leads_once(implementer):
    join_request = ask()
    organization = services.join_request_accept(actor=implementer, join_request=join_request,
                                                program_manager_email="pm@poplar.example.org")
    assert organization.name == "Poplar Youth Services"
    invited = set(Invitation.objects.values_list("email", "persona"))
    assert invited == {("rae@poplar.example.org", "executive_director"), ("pm@poplar.example.org", "program_manager")}
    again = services.join_request_accept(actor=implementer, join_request=join_request,
                                         program_manager_email="pm@poplar.example.org")
    assert again == organization and Organization.objects.filter(name="Poplar Youth Services").count() == 1
    assert Invitation.objects.count() == 2
    assert [e.verb for e in events_for(join_request)] == ["accepted", "asked to join"]


def test_the_program_manager_may_be_the_contact(implementer):
    services.join_request_accept(actor=implementer, join_request=ask(),
                                 program_manager_email="rae@poplar.example.org")
    assert set(Invitation.objects.values_list("persona", flat=True)) == {"executive_director", "program_manager"}


def test_an_existing_agency_name_is_a_clear_error(implementer):
    OrganizationFactory(name="poplar youth services")
    with pytest.raises(ValidationError, match="already exists"):
        services.join_request_accept(actor=implementer, join_request=ask(),
                                     program_manager_email="pm@poplar.example.org")
    assert JoinRequest.objects.get().status == "requested" and not Invitation.objects.exists()


def test_only_the_implementation_team_accepts_or_declines(implementer):
    join_request = ask()
    for person in (StaffFactory(groups=["CoC training"]),
                   MembershipFactory(persona="program_manager").user):
        with pytest.raises(PermissionDenied):
            services.join_request_accept(actor=person, join_request=join_request, program_manager_email="a@b.org")
        with pytest.raises(PermissionDenied):
            services.join_request_decline(actor=person, join_request=join_request, reason="No.")


def test_declining_needs_a_reason_and_tells_the_contact(implementer):
    join_request = ask()
    with pytest.raises(ValidationError):
        services.join_request_decline(actor=implementer, join_request=join_request, reason="  ")
    services.join_request_decline(actor=implementer, join_request=join_request,
                                  reason="Not in our Continuum's area.")
    note = Notification.objects.filter(to_email="rae@poplar.example.org").latest("pk")
    assert "Not in our Continuum's area." in note.body
    with pytest.raises(ValidationError, match="declined"):
        services.join_request_accept(actor=implementer, join_request=join_request, program_manager_email="a@b.org")
    assert not Organization.objects.filter(name="Poplar Youth Services").exists()


def test_the_queue_shows_requests_and_the_page_accepts(client, implementer):
    join_request = ask()
    client.force_login(implementer)
    queue = client.get(reverse("onboarding:coc-queue")).content.decode()
    assert "Poplar Youth Services — request to join" in queue
    url = reverse("onboarding:join-request", args=[join_request.pk])
    response = client.post(url, {"action": "accept", "program_manager_email": "pm@poplar.example.org"})
    organization = Organization.objects.get(name="Poplar Youth Services")
    assert response.status_code == 302 and response["Location"] == reverse("onboarding:participation",
                                                                            args=[organization.slug])


def test_the_admin_accepts_and_declines(client, implementer):
    first, second = ask(), ask(organization_name="Aspen Outreach")
    client.force_login(implementer)
    change = client.get(reverse("admin:onboarding_joinrequest_change", args=[first.pk])).content.decode()
    assert "Accept and invite" in change
    client.post(reverse("admin:onboarding_joinrequest_accept", args=[first.pk]),
                {"program_manager_email": "pm@poplar.example.org"})
    client.post(reverse("admin:onboarding_joinrequest_decline", args=[second.pk]), {"reason": "Duplicate."})
    assert dict(JoinRequest.objects.values_list("organization_name", "status")) == {
        "Poplar Youth Services": "accepted", "Aspen Outreach": "declined"}


# --- the public page's limit per client address --------------------------------------------------------------------

def _ask_page(client, n, **extra):
    return client.post(reverse("onboarding:join"), {
        "organization_name": f"Cedar Housing {n}", "contact_name": "Lee Cedar",
        "contact_email": f"lee{n}@cedar.example.org"}, **extra)


def test_the_public_page_takes_a_bounded_number_of_requests_an_hour_from_one_address(client, settings):
    import datetime as dt

    import time_machine

    settings.JOIN_REQUESTS_PER_HOUR = 2
    assert [_ask_page(client, n).status_code for n in range(2)] == [200, 200]
    refused = _ask_page(client, 2)
    assert refused.status_code == 429
    assert "Many requests to join have come from your address" in refused.content.decode()
    assert JoinRequest.objects.count() == 2
    # Input with errors is not counted, and gets its errors, not the limit.
    wrong = client.post(reverse("onboarding:join"), {"organization_name": "", "contact_email": "x"})
    assert wrong.status_code == 200 and "Many requests" not in wrong.content.decode()
    # Another address is counted on its own.
    assert _ask_page(client, 3, REMOTE_ADDR="203.0.113.9").status_code == 200
    with time_machine.travel(dt.timedelta(hours=1, minutes=1)):  # an hour later the count has expired
        assert _ask_page(client, 4).status_code == 200
    assert JoinRequest.objects.count() == 4


def test_an_invented_forwarded_for_header_does_not_reset_the_count(client, settings):
    settings.JOIN_REQUESTS_PER_HOUR = 2
    settings.TRUSTED_PROXY_COUNT = 0
    answers = [_ask_page(client, n, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(4)]
    assert answers == [200, 200, 429, 429]
    assert JoinRequest.objects.count() == 2


def test_behind_our_proxy_the_client_address_it_reports_is_counted(client, settings):
    settings.JOIN_REQUESTS_PER_HOUR = 1
    settings.TRUSTED_PROXY_COUNT = 1
    # The proxy appends the address it received the request from; what the client
    # put to its left is ignored, so a forged first entry changes nothing.
    first = _ask_page(client, 0, HTTP_X_FORWARDED_FOR="10.9.9.9, 198.51.100.7")
    forged = _ask_page(client, 1, HTTP_X_FORWARDED_FOR="10.8.8.8, 198.51.100.7")
    other = _ask_page(client, 2, HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert [first.status_code, forged.status_code, other.status_code] == [200, 429, 200]


def test_the_count_is_one_for_every_process_of_the_portal(client, settings):
    """Each web process has its own memory: a count kept there (or in a cache
    that another process does not share) would give every process its own
    allowance. Cleared between requests as another process's empty cache
    would be, the limit still holds."""
    from django.core.cache import cache

    settings.JOIN_REQUESTS_PER_HOUR = 2
    answers = []
    for n in range(4):
        cache.clear()
        answers.append(_ask_page(client, n).status_code)
    assert answers == [200, 200, 429, 429]
    assert JoinRequest.objects.count() == 2


def test_with_the_cache_failing_the_limit_still_holds(client, settings, monkeypatch):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("cache unavailable")

    settings.JOIN_REQUESTS_PER_HOUR = 2
    for name in ("add", "incr", "get", "set"):
        monkeypatch.setattr(cache, name, down)
    assert [_ask_page(client, n).status_code for n in range(3)] == [200, 200, 429]
    assert JoinRequest.objects.count() == 2


def test_the_address_is_kept_only_as_a_keyed_hash(client):
    _ask_page(client, 0, REMOTE_ADDR="203.0.113.77")
    join_request = JoinRequest.objects.get()
    assert join_request.client_key and "203.0.113.77" not in join_request.client_key
    assert "203.0.113" not in str(JoinRequest.objects.values().get())


def test_with_the_cache_down_the_page_still_takes_requests(client, monkeypatch):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("cache unavailable")

    monkeypatch.setattr(cache, "add", down)
    assert _ask_page(client, 0).status_code == 200
    assert JoinRequest.objects.count() == 1


# --- the implementation team's home page, the request's history, the roles carried over --------------------------

def test_a_request_to_join_waits_on_the_implementation_teams_home_page(client, implementer):
    ask()
    client.force_login(implementer)
    home = client.get(reverse("home")).content.decode()
    assert "1 request to join to accept or decline" in home
    assert reverse("onboarding:coc-queue") in home
    # Decided, it no longer waits.
    services.join_request_decline(actor=implementer, join_request=JoinRequest.objects.get(), reason="Duplicate.")
    assert "request to join" not in client.get(reverse("home")).content.decode()


def test_the_requests_history_names_the_contact_who_asked(client, implementer):
    join_request = ask()
    asked = events_for(join_request).get(verb="asked to join")
    assert asked.actor_label == "Rae Poplar (rae@poplar.example.org)"
    client.force_login(implementer)
    page = client.get(reverse("onboarding:join-request", args=[join_request.pk])).content.decode()
    assert "Rae Poplar (rae@poplar.example.org)" in page and "Scheduled job" not in page


def test_the_ces_roles_named_on_the_join_form_are_the_new_agencys(implementer):
    from onboarding.models import OrganizationCESRole

    roles = list(CESOrganizationRole.objects.filter(code__in=["housing-provider", "assessment-only"]))
    assert len(roles) == 2
    organization = services.join_request_accept(actor=implementer, join_request=ask(ces_roles=roles),
                                                program_manager_email="pm@poplar.example.org")
    assert set(OrganizationCESRole.objects.filter(organization=organization).values_list("role__code", flat=True)) \
        == {"housing-provider", "assessment-only"}
    assert events_for(organization).filter(verb="named CES roles").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_requests_from_one_address_at_the_same_moment_stay_within_the_limit(settings):
    """Six requests from one address at once, with two allowed: each counts
    the requests recorded before it, so without waiting for each other all
    six could count the same none and all be recorded."""
    from tests.concurrency import race

    settings.JOIN_REQUESTS_PER_HOUR = 2
    key = "ab" * 32

    def ask(n):
        def call():
            try:
                services.join_request_create(organization_name=f"Cedar Housing {n}", contact_name="Lee Cedar",
                                             contact_email=f"lee{n}@cedar.example.org", client_key=key)
            except services.JoinLimitReached as exc:
                raise ValidationError("limit reached") from exc
        return call

    outcomes = race(*[ask(n) for n in range(6)])
    assert sorted(outcomes) == ["done", "done"] + ["limit reached"] * 4, outcomes
    assert JoinRequest.objects.filter(client_key=key).count() == 2
