"""Granting HMIS access follows the CoC's policy: nobody grants themselves,
the role is one of the CoC's roles, and HMIS accounts change in the admin
only through services."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from hmis_access.models import AccessRequest, HMISAccount
from hmis_access.services import access_request_grant
from hmis_portal.core.audit import events_for
from tests.factories import HMISAccountFactory, StaffFactory
from tests.training.factories import finish_everything, identify, participating

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(organization):
    participating(organization, "access-center")
    return finish_everything(identify(organization, programs=list(organization.programs.all())),
                             StaffFactory(groups=["CoC training"]))


def test_the_role_must_be_one_of_the_coc_s_roles(ready):
    provisioner = StaffFactory(groups=["CoC provisioning"])
    with pytest.raises(ValidationError, match="not one of the CoC's HMIS roles"):
        access_request_grant(actor=provisioner, access_request_id=ready.pk, hmis_username="new.user",
                             hmis_role="CES_Bogus")
    ready.refresh_from_db()
    assert ready.status == AccessRequest.Status.READY and not HMISAccount.objects.exists()


def test_the_grant_form_offers_the_coc_s_roles_with_the_derived_one_chosen(client, ready):
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    url = reverse("admin:hmis_access_accessrequest_grant", args=[ready.pk])
    page = client.get(url).content.decode()
    assert '<option value="CES_Standard" selected>' in page and '<option value="CES_Matcher">' in page
    response = client.post(url, {"hmis_username": "new.user", "hmis_role": "CES_Bogus"})
    assert "Select a valid choice" in response.content.decode()
    assert not HMISAccount.objects.exists()


def test_nobody_grants_access_to_themselves(client, ready):
    # A provisioning staff member whose own request is ready (made directly:
    # CoC staff are not identified through the portal).
    me = ready.user
    me.is_staff = True
    me.save(update_fields=["is_staff"])
    Membership.objects.filter(user=me).delete()
    me.groups.add(*StaffFactory(groups=["CoC provisioning"]).groups.all())
    with pytest.raises(PermissionDenied, match="Nobody grants HMIS access to themselves"):
        access_request_grant(actor=me, access_request_id=ready.pk, hmis_username="me", hmis_role="CES_Standard")
    client.force_login(me)
    url = reverse("admin:hmis_access_accessrequest_grant", args=[ready.pk])
    assert client.post(url, {"hmis_username": "me", "hmis_role": "CES_Standard"}).status_code == 403
    page = client.get(reverse("admin:hmis_access_accessrequest_change", args=[ready.pk])).content.decode()
    assert "Nobody grants HMIS access to themselves" in page and url not in page
    assert not HMISAccount.objects.exists()


def test_hmis_accounts_are_read_only_in_the_admin(client):
    account = HMISAccountFactory(hmis_role="CES_Standard")
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    change = reverse("admin:hmis_access_hmisaccount_change", args=[account.pk])
    client.post(change, {"hmis_role": "CES_Matcher", "hmis_username": "renamed", "status": "inactive"})
    account.refresh_from_db()
    assert (account.hmis_role, account.status) == ("CES_Standard", "active")
    assert client.get(reverse("admin:hmis_access_hmisaccount_add")).status_code == 403
    assert client.post(reverse("admin:hmis_access_hmisaccount_delete", args=[account.pk]),
                       {"post": "yes"}).status_code == 403
    assert HMISAccount.objects.filter(pk=account.pk).exists()


def test_retraining_is_recorded_from_the_admin_through_the_service(client):
    account = HMISAccountFactory(status="inactive", retraining_required=True,
                                 retraining_required_on=timezone.localdate())
    client.force_login(StaffFactory(groups=["CoC training"]))
    client.post(reverse("admin:hmis_access_hmisaccount_changelist"),
                {"action": "record_retraining", "_selected_action": [account.pk]})
    account.refresh_from_db()
    assert account.retraining_required is False
    assert any("retraining" in event.verb for event in events_for(account))
