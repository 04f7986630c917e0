"""A row in a state no service makes (a ready request without a provisioning
deadline: an import, a hand edit) never takes down a page; the provisioning
staff see it as needing attention."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from hmis_access.models import AccessRequest
from hmis_access.provisioning import provisioning_queue
from tests.factories import StaffFactory
from tests.training.factories import finish_everything, identify, participating

pytestmark = pytest.mark.django_db


@pytest.fixture
def stray(organization):
    participating(organization, "access-center")
    ready = finish_everything(identify(organization, programs=list(organization.programs.all())),
                              StaffFactory(groups=["CoC training"]))
    on_time = finish_everything(identify(organization, programs=list(organization.programs.all())),
                                StaffFactory(groups=["CoC training"]))
    AccessRequest.objects.filter(pk=ready.pk).update(provisioning_due_at=None)
    assert AccessRequest.objects.get(pk=ready.pk).status == AccessRequest.Status.READY
    return ready, on_time


def test_the_queue_lists_a_ready_request_without_a_deadline_first_as_needing_attention(stray):
    ready, on_time = stray
    entries = provisioning_queue(now=timezone.now() + dt.timedelta(hours=1))
    assert [entry.item.pk for entry in entries] == [ready.pk, on_time.pk]
    assert entries[0].due_at is None and entries[0].needs_attention
    assert "no provisioning deadline" in entries[0].attention
    assert not entries[1].needs_attention and entries[1].due_at is not None


def test_the_home_page_and_the_queue_page_show_it_instead_of_failing(client, stray):
    ready, _ = stray
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    home = client.get(reverse("home"))
    assert home.status_code == 200
    page = home.content.decode()
    assert f"Grant HMIS access to {ready.user}" in page
    assert "no provisioning deadline" in page
    queue = client.get(reverse("provisioning-queue"))
    assert queue.status_code == 200
    assert "no provisioning deadline" in queue.content.decode()
