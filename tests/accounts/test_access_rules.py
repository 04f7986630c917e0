"""The authorization module's small rules that the apps ask instead of
writing them out: the agencies a person belongs to, their personas there,
who signs a person's form, who owes a second factor, whom the admin shows."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from accounts import access
from accounts.models import Invitation, User
from tests.factories import MembershipFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_agencies_a_person_belongs_to_come_once_each(owner, organization, other_organization):
    MembershipFactory(user=owner, organization=organization, persona="program_manager")
    assert list(access.member_organizations(owner)) == [organization]
    assert not access.member_organizations(AnonymousUser()).exists()
    assert not access.member_organizations(StaffFactory(groups=["CoC implementation"])).exists()


def test_personas_by_agency_are_personas_at_for_each_agency(owner, organization, other_organization):
    MembershipFactory(user=owner, organization=organization, persona="program_manager")
    MembershipFactory(user=owner, organization=other_organization, persona="staff")
    by_agency = access.personas_by_organization(owner)
    assert by_agency == {organization: {"executive_director", "program_manager"}, other_organization: {"staff"}}
    assert all(by_agency[o] == access.personas_at(owner, o) for o in by_agency)
    assert access.personas_by_organization(AnonymousUser()) == {}


def test_a_form_s_agency_place_is_signed_by_the_people_form_signer_refusal_lets_sign(organization):
    user = MembershipFactory(organization=organization).user
    administrator = MembershipFactory(organization=organization, persona="agency_administrator").user
    left = MembershipFactory(organization=organization, persona="agency_administrator").user
    User.objects.filter(pk=left.pk).update(is_active=False)
    MembershipFactory(persona="agency_administrator")                       # another agency's
    MembershipFactory(user=StaffFactory(), organization=organization, persona="agency_administrator")  # CoC staff
    MembershipFactory(user=user, organization=organization, persona="agency_administrator")  # the user themself

    assert access.form_signers(user, "agency_administrator") == [administrator]
    assert access.form_signers(user, access.USER_SIGNER) == [user]
    assert access.can_sign_form_as(administrator, user, "agency_administrator")
    assert not access.can_sign_form_as(user, user, "agency_administrator")


def test_coc_staff_owe_the_second_factor_always_and_agency_people_by_policy(organization):
    staff, person = StaffFactory(groups=["CoC training"]), MembershipFactory(organization=organization).user
    assert access.second_factor_always(staff)
    assert not access.second_factor_always(person)
    assert not access.second_factor_always(AnonymousUser())


def test_the_admin_shows_coc_staff_accounts_to_system_admins_only(organization):
    staff, person = StaffFactory(groups=["CoC training"]), MembershipFactory(organization=organization).user
    implementer = StaffFactory(groups=["CoC implementation"])
    system = StaffFactory(groups=["CoC system admin"])
    people = User.objects.filter(pk__in=[staff.pk, person.pk])
    assert list(access.restrict_admin_users(people, implementer)) == [person]
    assert set(access.restrict_admin_users(people, system)) == {staff, person}
    assert access.can_manage_staff_accounts(system) and not access.can_manage_staff_accounts(implementer)
    assert access.can_manage_memberships(implementer) and not access.can_manage_memberships(
        StaffFactory(groups=["CoC training"]))


def test_an_agency_lead_manages_the_invitations_of_the_personas_they_may_invite(organization):
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    for persona in ("staff", "executive_director"):
        Invitation.objects.create(organization=organization, email=f"{persona}@example.org", persona=persona,
                                  invited_by=manager, token_hash=persona, expires_at=timezone.now())
    mine = access.restrict_invitations(Invitation.objects.all(), manager, organization)
    assert [i.persona for i in mine] == ["staff"]
    implementer = StaffFactory(groups=["CoC implementation"])
    assert access.restrict_invitations(Invitation.objects.all(), implementer, organization).count() == 2


def test_an_invited_address_of_coc_staff_never_joins_an_agency():
    assert access.invitee_refusal(StaffFactory()) == access.COC_STAFF_ADDRESS
    assert access.invitee_refusal(UserFactory()) == ""
    assert access.invitee_refusal(None) == ""
