"""Adding and removing an agency's people goes through the services, which
ask the authorization module who may manage the agency's people."""

import pytest
from django.core.exceptions import PermissionDenied

from accounts import services
from accounts.models import Membership
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def organization():
    return OrganizationFactory(name="Laurel Family Services")


def _stray_staff_membership(organization):
    """A CoC staff member's membership, made before the rule or by hand in
    the database: the services never add one."""
    return Membership.objects.create(user=StaffFactory(groups=["CoC training"]), organization=organization,
                                     persona="staff")


def test_the_implementation_team_removes_a_coc_staff_members_stray_membership(organization):
    membership = _stray_staff_membership(organization)
    services.membership_remove(actor=StaffFactory(groups=["CoC implementation"]), membership=membership)
    assert not Membership.objects.filter(pk=membership.pk).exists()


@pytest.mark.parametrize("who", ["agency staff", "other agency's program manager", "CoC training"])
def test_nobody_else_removes_a_coc_staff_members_stray_membership(organization, who):
    membership = _stray_staff_membership(organization)
    actor = {
        "agency staff": lambda: MembershipFactory(organization=organization, persona="staff").user,
        "other agency's program manager": lambda: MembershipFactory(persona="program_manager").user,
        "CoC training": lambda: StaffFactory(groups=["CoC training"]),
    }[who]()
    with pytest.raises(PermissionDenied):
        services.membership_remove(actor=actor, membership=membership)
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_an_agency_program_manager_removes_one_of_its_people_and_staff_do_not(organization):
    membership = MembershipFactory(organization=organization, persona="staff")
    with pytest.raises(PermissionDenied):
        services.membership_remove(actor=MembershipFactory(organization=organization, persona="staff").user,
                                   membership=membership)
    services.membership_remove(actor=MembershipFactory(organization=organization, persona="program_manager").user,
                               membership=membership)
    assert not Membership.objects.filter(pk=membership.pk).exists()
