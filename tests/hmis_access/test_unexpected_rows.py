"""A row in a state no service makes (a ready request without a provisioning
deadline: an import, a hand edit) never takes down a page; the provisioning
staff see it as needing attention."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
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


def test_the_first_few_of_the_queue_are_read_as_the_whole_queue_orders_them(organization, stray):
    """The home page's few (`first`) are the whole queue's first, the row
    without a deadline among them, and only that many rows are read."""
    ready, on_time = stray
    later = [finish_everything(identify(organization, programs=list(organization.programs.all())),
                               StaffFactory(groups=["CoC training"])) for _ in range(3)]
    # Deadlines out of the order the requests were made in.
    for hours, request in zip((30, 2, 10), later):
        due = timezone.now() + dt.timedelta(hours=hours)
        AccessRequest.objects.filter(pk=request.pk).update(provisioning_due_at=due)
    now = timezone.now()
    whole = [entry.item.pk for entry in provisioning_queue(now=now)]
    assert whole[0] == ready.pk and set(whole) == {ready.pk, on_time.pk, *(request.pk for request in later)}
    for first in range(1, len(whole) + 1):
        with CaptureQueriesContext(connection) as captured:
            assert [entry.item.pk for entry in provisioning_queue(now=now, first=first)] == whole[:first]
        tables = ('SELECT "accounts_accessrequest"', 'SELECT "accounts_reactivationrequest"')
        read = [query["sql"] for query in captured.captured_queries if query["sql"].startswith(tables)]
        assert len(read) == 2 and all(sql.endswith(f"LIMIT {first}") for sql in read), read
