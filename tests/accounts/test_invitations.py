"""Invitations: who may invite whom, and a link that works once, until it expires or is revoked."""

import datetime as dt
import re

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Membership, User
from hmis_portal.core.audit import events_for
from hmis_portal.core.models import Notification
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-enough-Passw0rd"


@pytest.fixture
def organization():
    return OrganizationFactory(name="Laurel Family Services")


@pytest.fixture
def implementer():
    return StaffFactory(groups=["CoC implementation"], email="implementer@example.org")


def token_from_email(email):
    body = Notification.objects.filter(to_email=email).latest("pk").body
    return re.search(r"/invitations/([^/\s]+)/", body).group(1)


def test_the_implementation_team_invites_a_director_who_sets_a_password_and_joins(organization, implementer):
    invitation = services.invitation_send(actor=implementer, organization=organization,
                                          email="Director@Laurel.example.org", persona="executive_director")
    assert invitation.email == "director@laurel.example.org"
    note = Notification.objects.get(to_email="director@laurel.example.org")
    assert "Laurel Family Services" in note.subject
    assert "http://testserver" not in note.body and "/invitations/" in note.body
    token = token_from_email(invitation.email)
    assert invitation.token_hash == services.token_hash(token=token) and token not in invitation.token_hash
    person = services.invitation_accept(token=token, full_name="Dee Laurel", password=PASSWORD)
    assert person.check_password(PASSWORD) and not person.is_staff
    assert Membership.objects.filter(user=person, organization=organization, persona="executive_director").exists()
    assert "invited a person" in [e.verb for e in events_for(organization)]
    assert "accepted an invitation" in [e.verb for e in events_for(organization)]
    # The link works once.
    with pytest.raises(ValidationError, match="already used"):
        services.invitation_accept(token=token, full_name="Someone Else", password=PASSWORD)


def test_an_expired_link_is_refused_and_a_resent_one_works(organization, implementer):
    invitation = services.invitation_send(actor=implementer, organization=organization,
                                          email="pm@laurel.example.org", persona="program_manager")
    old = invitation.token
    with time_machine.travel(timezone.now() + dt.timedelta(days=15)):
        with pytest.raises(ValidationError, match="expired"):
            services.invitation_accept(token=old, full_name="Pat", password=PASSWORD)
        resent = services.invitation_resend(actor=implementer, invitation=invitation)
        with pytest.raises(ValidationError, match="not valid"):
            services.invitation_accept(token=old, full_name="Pat", password=PASSWORD)
        services.invitation_accept(token=resent.token, full_name="Pat", password=PASSWORD)
    assert Invitation.objects.get().status == Invitation.Status.ACCEPTED


def test_a_revoked_link_is_refused(organization, implementer):
    invitation = services.invitation_send(actor=implementer, organization=organization,
                                          email="aa@laurel.example.org", persona="agency_administrator")
    services.invitation_revoke(actor=implementer, invitation=invitation)
    with pytest.raises(ValidationError, match="already revoked"):  # twice: nothing more, and it says so
        services.invitation_revoke(actor=implementer, invitation=invitation)
    assert [e.verb for e in events_for(organization)].count("revoked an invitation") == 1
    with pytest.raises(ValidationError, match="withdrawn"):
        services.invitation_accept(token=invitation.token, full_name="Ann", password=PASSWORD)
    with pytest.raises(ValidationError, match="revoked"):
        services.invitation_resend(actor=implementer, invitation=invitation)
    assert not User.objects.filter(email="aa@laurel.example.org").exists()


def test_inviting_twice_sends_a_new_link_for_one_invitation(organization, implementer):
    first = services.invitation_send(actor=implementer, organization=organization, email="s@laurel.example.org",
                                     persona="staff")
    second = services.invitation_send(actor=implementer, organization=organization, email="s@laurel.example.org",
                                      persona="staff")
    assert first.pk == second.pk and Invitation.objects.count() == 1
    assert Notification.objects.filter(to_email="s@laurel.example.org").count() == 2


def test_coc_staff_addresses_are_never_invited(organization, implementer):
    StaffFactory(groups=["CoC training"], email="trainer@example.org")
    with pytest.raises(ValidationError, match="CoC staff"):
        services.invitation_send(actor=implementer, organization=organization, email="Trainer@example.org",
                                 persona="staff")
    assert not Invitation.objects.exists()


def test_a_program_manager_invites_staff_and_administrators_of_their_own_agency_only(organization, implementer):
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    services.invitation_send(actor=manager, organization=organization, email="s1@laurel.example.org",
                             persona="staff")
    services.invitation_send(actor=manager, organization=organization, email="a1@laurel.example.org",
                             persona="agency_administrator")
    with pytest.raises(PermissionDenied):
        services.invitation_send(actor=manager, organization=organization, email="ed@laurel.example.org",
                                 persona="executive_director")
    with pytest.raises(PermissionDenied):
        services.invitation_send(actor=manager, organization=OrganizationFactory(), email="x@example.org",
                                 persona="staff")
    staff = MembershipFactory(organization=organization, persona="staff").user
    with pytest.raises(PermissionDenied):
        services.invitation_send(actor=staff, organization=organization, email="y@example.org", persona="staff")
    # What the implementation team sent, a Program Manager may not revoke.
    for_director = services.invitation_send(actor=implementer, organization=organization,
                                            email="ed@laurel.example.org", persona="executive_director")
    with pytest.raises(PermissionDenied):
        services.invitation_revoke(actor=manager, invitation=for_director)


def test_someone_with_an_account_joins_while_signed_in_and_keeps_their_password(organization, implementer):
    person = UserFactory(email="known@example.org")
    invitation = services.invitation_send(actor=implementer, organization=organization, email=person.email,
                                          persona="staff")
    with pytest.raises(PermissionDenied):
        services.invitation_accept(token=invitation.token, full_name="", password="")
    services.invitation_accept(token=invitation.token, full_name="", password="", signed_in=person)
    person.refresh_from_db()
    assert person.check_password("test-password-1")
    assert Membership.objects.filter(user=person, organization=organization, persona="staff").exists()


def test_the_page_sets_the_password_and_refuses_a_used_link(client, organization, implementer):
    invitation = services.invitation_send(actor=implementer, organization=organization,
                                          email="new@laurel.example.org", persona="staff")
    url = reverse("invitation-accept", args=[invitation.token])
    page = client.get(url)
    assert page.status_code == 200 and "Laurel Family Services" in page.content.decode()
    assert page["Referrer-Policy"] == "same-origin"
    weak = client.post(url, {"full_name": "Nia", "password1": "short", "password2": "short"})
    assert weak.status_code == 200 and not User.objects.filter(email="new@laurel.example.org").exists()
    done = client.post(url, {"full_name": "Nia", "password1": PASSWORD, "password2": PASSWORD})
    assert done.status_code == 302 and reverse("login") in done["Location"]
    assert User.objects.get(email="new@laurel.example.org").check_password(PASSWORD)
    again = client.get(url)
    assert "already used" in again.content.decode()
    assert client.get(reverse("invitation-accept", args=["not-a-token"])).status_code == 404


def test_the_agency_page_invites_resends_and_revokes(client, organization):
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    client.force_login(manager)
    page = client.get(reverse("organization-detail", args=[organization.slug])).content.decode()
    assert "Send the invitation" in page and "Executive Director" not in page.split("Invite someone")[-1]
    response = client.post(reverse("organization-invite", args=[organization.slug]),
                           {"email": "worker@laurel.example.org", "persona": "staff", "full_name": "Wu"})
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    client.post(reverse("invitation-resend", args=[invitation.pk]))
    assert Notification.objects.filter(to_email="worker@laurel.example.org").count() == 2
    client.post(reverse("invitation-revoke", args=[invitation.pk]))
    assert Invitation.objects.get().status == Invitation.Status.REVOKED
    refused = client.post(reverse("organization-invite", args=[organization.slug]),
                          {"email": "ed@laurel.example.org", "persona": "executive_director"})
    assert refused.status_code == 200 and not Invitation.objects.filter(persona="executive_director").exists()
    # Another agency's invitation is not there at all.
    other = services.invitation_send(actor=StaffFactory(groups=["CoC implementation"]),
                                     organization=OrganizationFactory(), email="o@example.org", persona="staff")
    assert client.post(reverse("invitation-revoke", args=[other.pk])).status_code == 404


def test_the_implementation_team_invites_from_the_agency_in_the_admin(client, organization, implementer):
    client.force_login(implementer)
    change = client.get(reverse("admin:accounts_organization_change", args=[organization.pk])).content.decode()
    assert "Invite someone" in change
    url = reverse("admin:accounts_organization_invite", args=[organization.pk])
    response = client.post(url, {"email": "ed@laurel.example.org", "persona": "executive_director",
                                 "full_name": "Eve"})
    assert response.status_code == 302
    assert Invitation.objects.get().persona == "executive_director"
    trainer = StaffFactory(groups=["CoC training"])
    client.force_login(trainer)
    assert client.post(url, {"email": "x@example.org", "persona": "staff"}).status_code == 403


def test_the_agencys_history_names_personas_not_codes(client, organization, implementer):
    import html

    services.invitation_send(actor=implementer, organization=organization, email="pm@example.org",
                             persona="program_manager")
    membership = MembershipFactory(organization=organization, persona="staff")
    services.membership_remove(actor=implementer, membership=membership)
    client.force_login(implementer)
    page = html.unescape(client.get(reverse("organization-detail", args=[organization.slug])).content.decode())
    assert "Invited a person</strong>: — → Program Manager" in page
    assert "Removed a person</strong>: Staff (end user) → —" in page
    assert "program_manager" not in page.split("History")[-1]
