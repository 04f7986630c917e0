"""People and agencies in the admin follow the authorization module:
memberships through the audited services and never for CoC staff, guardian's
per-agency permissions for system admins only, and the audit list narrowed to
what each group's work needs."""

import pytest
from django.urls import reverse

from accounts.models import Membership
from hmis_portal.core.audit import record_event
from hmis_portal.core.models import AuditEvent
from tests.factories import OrganizationFactory, StaffFactory, UserFactory
from tests.referrals.factories import make_referral

pytestmark = pytest.mark.django_db


def _inline_post(organization, rows):
    data = {"name": organization.name, "slug": organization.slug, "created_at_0": "2026-11-01", "created_at_1": "09:00:00",
            "memberships-TOTAL_FORMS": str(len(rows)), "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
            "core-auditevent-content_type-object_id-TOTAL_FORMS": "0",
            "core-auditevent-content_type-object_id-INITIAL_FORMS": "0"}
    for i, (user, persona) in enumerate(rows):
        data.update({f"memberships-{i}-user": str(user.pk), f"memberships-{i}-organization": str(organization.pk),
                     f"memberships-{i}-persona": persona})
    return data


def test_coc_staff_cannot_give_themselves_an_agency_membership(client):
    organization = OrganizationFactory()
    implementer = StaffFactory(groups=["CoC implementation"])
    client.force_login(implementer)
    url = reverse("admin:accounts_organization_change", args=[organization.pk])
    response = client.post(url, _inline_post(organization, [(implementer, "executive_director")]))
    assert response.status_code == 200
    assert "CoC staff hold no agency memberships" in response.content.decode()
    assert not Membership.objects.filter(user=implementer).exists()


def test_memberships_added_in_the_admin_are_audited(client):
    organization = OrganizationFactory()
    person = UserFactory()
    client.force_login(StaffFactory(groups=["CoC implementation"]))
    url = reverse("admin:accounts_organization_change", args=[organization.pk])
    response = client.post(url, _inline_post(organization, [(person, "program_manager")]))
    assert response.status_code == 302
    assert Membership.objects.filter(user=person, organization=organization, persona="program_manager").exists()
    event = AuditEvent.objects.get(verb="added a person")
    assert event.to_state == "program_manager" and str(person) in event.reason


def _existing_rows_post(organization, rows):
    """The agency's change form with its memberships as they are, changed by `rows`:
    (membership, new persona or None to delete)."""
    data = _inline_post(organization, [])
    data.update({"memberships-TOTAL_FORMS": str(len(rows)), "memberships-INITIAL_FORMS": str(len(rows))})
    for i, (membership, persona) in enumerate(rows):
        data.update({f"memberships-{i}-id": str(membership.pk), f"memberships-{i}-user": str(membership.user_id),
                     f"memberships-{i}-organization": str(organization.pk),
                     f"memberships-{i}-persona": persona or membership.persona})
        if persona is None:
            data[f"memberships-{i}-DELETE"] = "on"
    return data


def test_a_persona_changed_in_the_admin_keeps_the_hmis_account_and_the_last_removal_ends_it(client):
    from hmis_access.models import HMISAccount
    from tests.factories import HMISAccountFactory

    organization = OrganizationFactory()
    person = UserFactory()
    membership = Membership.objects.create(user=person, organization=organization, persona="staff")
    account = HMISAccountFactory(user=person, organization=organization)
    client.force_login(StaffFactory(groups=["CoC implementation"]))
    url = reverse("admin:accounts_organization_change", args=[organization.pk])

    response = client.post(url, _existing_rows_post(organization, [(membership, "agency_administrator")]))
    assert response.status_code == 302
    assert list(Membership.objects.filter(user=person).values_list("persona", flat=True)) == ["agency_administrator"]
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.ACTIVE

    response = client.post(url, _existing_rows_post(organization, [(Membership.objects.get(user=person), None)]))
    assert response.status_code == 302
    assert not Membership.objects.filter(user=person).exists()
    account.refresh_from_db()
    assert (account.status, account.inactive_reason) == (HMISAccount.Status.INACTIVE,
                                                         HMISAccount.InactiveReason.MEMBERSHIP_ENDED)


def test_only_system_admins_hand_out_per_agency_permissions(client):
    organization = OrganizationFactory()
    url = reverse("admin:accounts_organization_permissions", args=[organization.pk])
    change = reverse("admin:accounts_organization_change", args=[organization.pk])
    client.force_login(StaffFactory(groups=["CoC implementation"]))
    assert client.get(url).status_code == 403
    assert url not in client.get(change).content.decode()
    client.force_login(StaffFactory(groups=["CoC system admin"]))
    assert client.get(url).status_code == 200
    assert url in client.get(change).content.decode()


def test_the_implementation_team_does_not_edit_staff_accounts_or_groups(client):
    implementer = StaffFactory(groups=["CoC implementation"])
    person = UserFactory()
    client.force_login(implementer)
    page = client.get(reverse("admin:accounts_user_change", args=[person.pk])).content.decode()
    assert 'name="is_staff"' not in page and 'name="groups"' not in page
    assert client.get(reverse("admin:accounts_user_change", args=[implementer.pk])).status_code == 302


@pytest.mark.parametrize("group, sees_referral_history", [
    ("CES team", True), ("CoC training", False), ("CoC provisioning", False), ("CoC implementation", False),
    ("CoC system admin", False),
])
def test_the_audit_list_shows_a_referral_s_history_only_to_the_ces_team(client, group, sees_referral_history):
    referral = make_referral()
    record_event(actor=None, subject=referral, verb="changed need status", reason="Client asked to wait")
    organization = OrganizationFactory()
    record_event(actor=None, subject=organization, verb="named CES roles")
    client.force_login(StaffFactory(groups=[group]))
    page = client.get(reverse("admin:core_auditevent_changelist") + "?q=").content.decode()
    assert ("changed need status" in page) is sees_referral_history
    assert "named CES roles" in page


def test_a_large_agency_page_edits_its_first_people_by_name_and_says_how_many_there_are(client):
    from accounts.admin import MembershipInline

    organization = OrganizationFactory()
    shown = MembershipInline.shown_on_agency
    people = UserFactory.create_batch(shown + 5)
    for n, person in enumerate(people):
        person.full_name = f"Member {n:03d}"
        person.save(update_fields=["full_name"])
        Membership.objects.create(user=person, organization=organization, persona="staff")
    client.force_login(StaffFactory(groups=["CoC implementation"]))
    url = reverse("admin:accounts_organization_change", args=[organization.pk])

    page = client.get(url).content.decode()
    assert f"the first {shown} of {shown + 5} by name" in page
    assert "Member 000" in page and f"Member {shown - 1:03d}" in page and f"Member {shown:03d}" not in page
    # Each row names its person without a query of its own, and the form still saves.
    first = Membership.objects.get(user=people[0])
    response = client.post(url, _existing_rows_post(organization, [(first, "program_manager")]))
    assert response.status_code == 302
    assert Membership.objects.get(user=people[0], organization=organization).persona == "program_manager"
    assert Membership.objects.filter(organization=organization).count() == shown + 5
