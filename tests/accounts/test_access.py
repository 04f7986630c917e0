import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import Http404
from guardian.shortcuts import assign_perm

from accounts.access import access_organization, in_coc_group, restrict, visible_organizations
from accounts.models import CoCGroup, Membership
from tests.factories import MembershipFactory, StaffFactory

pytestmark = pytest.mark.django_db


def test_members_see_their_own_agencies_only(owner, organization, other_organization):
    assert list(visible_organizations(owner)) == [organization]
    assert access_organization(owner, organization.slug) == organization
    with pytest.raises(Http404):
        access_organization(owner, other_organization.slug)


def test_a_member_without_the_persona_gets_403(member, organization):
    with pytest.raises(PermissionDenied, match="Executive Director"):
        access_organization(member, organization.slug, personas=["executive_director"])


def test_restrict_narrows_any_queryset_by_its_organization(owner, organization, other_organization):
    MembershipFactory(organization=other_organization)
    mine = restrict(Membership.objects.all(), owner)
    assert {m.organization for m in mine} == {organization}


def test_coc_staff_in_any_group_see_every_agency(organization, other_organization):
    staff = StaffFactory(groups=[CoCGroup.CES_TEAM.value])
    assert set(visible_organizations(staff)) == {organization, other_organization}
    assert in_coc_group(staff, CoCGroup.CES_TEAM) and not in_coc_group(staff, CoCGroup.PROVISIONING)


def test_a_regional_lead_sees_only_the_agencies_assigned_to_them(organization, other_organization):
    lead = StaffFactory()  # CoC staff in no group: no global view permission
    assert not visible_organizations(lead).exists()
    assign_perm("accounts.view_organization", lead, organization)
    assert list(visible_organizations(lead)) == [organization]
    with pytest.raises(Http404):
        access_organization(lead, other_organization.slug)


def test_inactive_people_see_nothing(organization):
    user = MembershipFactory(organization=organization, user__is_active=False).user
    assert not visible_organizations(user).exists()


def test_which_of_a_list_s_agencies_a_person_may_open_is_what_they_may_see(owner, organization,
                                                                           other_organization):
    """`seen_among` answers as `visible_organizations` does, for each kind of reader."""
    from django.contrib.auth.models import AnonymousUser

    from accounts.access import seen_among

    both = [organization.pk, other_organization.pk]
    lead = StaffFactory()
    assign_perm("accounts.view_organization", lead, other_organization)
    inactive = MembershipFactory(organization=organization, user__is_active=False).user
    readers = [owner, StaffFactory(groups=[CoCGroup.CES_TEAM.value]), lead, inactive, AnonymousUser()]
    for reader in readers:
        seen = set(visible_organizations(reader).filter(pk__in=both).values_list("pk", flat=True))
        assert seen_among(reader, both) == seen, reader
    assert [seen_among(reader, both) for reader in readers] == [
        {organization.pk}, set(both), {other_organization.pk}, set(), set()]
    assert seen_among(owner, []) == set()


@pytest.mark.parametrize("group, can, cannot", [
    (CoCGroup.IMPLEMENTATION, "accounts.change_organization", "hmis_access.change_accesspolicy"),
    (CoCGroup.PROVISIONING, "hmis_access.change_hmisaccount", "accounts.change_organization"),
    (CoCGroup.SYSTEM_ADMIN, "core.add_holiday", "core.delete_auditevent"),
    (CoCGroup.CES_TEAM, "accounts.view_organization", "accounts.change_user"),
    (CoCGroup.TRAINING, "accounts.view_user", "accounts.change_user"),
])
def test_coc_staff_groups_come_with_their_admin_permissions(group, can, cannot):
    assert Group.objects.filter(name=group.value).exists()
    staff = StaffFactory(groups=[group.value])
    assert staff.has_perm(can)
    assert not staff.has_perm(cannot)
