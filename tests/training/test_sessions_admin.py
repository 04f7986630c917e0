"""Training staff cancel a session or change its seats through audited
services: registrants are told and released, the waitlist moves up, and the
admin no longer edits those fields around the services."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from hmis_portal.core.audit import events_for
from hmis_portal.core.models import Notification
from tests.factories import MembershipFactory, StaffFactory
from tests.training.factories import session
from training import services
from training.models import Registration

pytestmark = pytest.mark.django_db


@pytest.fixture
def trainer():
    return StaffFactory(groups=["CoC training"])


def _people(organization, n):
    return [MembershipFactory(organization=organization, persona="staff").user for _ in range(n)]


def test_cancelling_a_session_releases_and_tells_everyone(client, organization, trainer):
    seats = session("hmis-10", capacity=1)
    registered, waiting = _people(organization, 2)
    for person in (registered, waiting):
        services.session_register(actor=person, session_id=seats.pk)
    services.session_cancel(actor=trainer, session_id=seats.pk, reason="The trainer is ill")
    seats.refresh_from_db()
    assert seats.cancelled
    assert set(Registration.objects.values_list("status", flat=True)) == {"cancelled"}
    for person in (registered, waiting):
        assert Notification.objects.filter(to_email=person.email, subject__startswith="Cancelled",
                                           body__contains="The trainer is ill").exists()
    assert [e.verb for e in events_for(seats)] == ["cancelled session"]
    client.force_login(registered)
    response = client.get(reverse("training:sessions"))
    assert list(response.context["registrations"]) == []
    assert seats.pk not in response.context["registered_session_ids"]
    with pytest.raises(ValidationError, match="already cancelled"):
        services.session_cancel(actor=trainer, session_id=seats.pk, reason="Again")


def test_more_seats_move_the_waitlist_up_and_fewer_than_taken_is_refused(organization, trainer):
    seats = session("hmis-10", capacity=1)
    a, b, c = _people(organization, 3)
    for person in (a, b, c):
        services.session_register(actor=person, session_id=seats.pk)
    services.session_set_capacity(actor=trainer, session_id=seats.pk, capacity=2)
    assert Registration.objects.get(user=b).status == "registered"
    assert Registration.objects.get(user=c).status == "waitlisted"
    assert Notification.objects.filter(to_email=b.email, subject__startswith="A seat opened").exists()
    with pytest.raises(ValidationError, match="2 people hold seats"):
        services.session_set_capacity(actor=trainer, session_id=seats.pk, capacity=1)
    seats.refresh_from_db()
    assert seats.capacity == 2


def test_only_training_staff_cancel_or_change_seats(organization):
    seats = session("hmis-10")
    for actor in (StaffFactory(groups=["CoC provisioning"]), _people(organization, 1)[0]):
        with pytest.raises(PermissionDenied):
            services.session_cancel(actor=actor, session_id=seats.pk, reason="No")
        with pytest.raises(PermissionDenied):
            services.session_set_capacity(actor=actor, session_id=seats.pk, capacity=50)


def test_the_admin_changes_seats_and_cancels_only_through_the_buttons(client, organization, trainer):
    seats = session("hmis-10", capacity=1)
    a, b = _people(organization, 2)
    for person in (a, b):
        services.session_register(actor=person, session_id=seats.pk)
    client.force_login(trainer)
    change = reverse("admin:training_trainingsession_change", args=[seats.pk])
    page = client.get(change).content.decode()
    assert 'name="capacity"' not in page and 'name="cancelled"' not in page
    client.post(reverse("admin:training_trainingsession_seats", args=[seats.pk]), {"capacity": "2"})
    assert Registration.objects.get(user=b).status == "registered"
    client.post(reverse("admin:training_trainingsession_cancel", args=[seats.pk]), {"reason": "Room flooded"})
    seats.refresh_from_db()
    assert seats.cancelled and not Registration.objects.exclude(status="cancelled").exists()


def test_nobody_verifies_their_own_upload(trainer):
    from training.models import Certificate, Course

    own = Certificate(user=trainer, course=Course.objects.get(code="hmis-10"), completed_on=session("hmis-10")
                      .starts_at.date(), status="submitted")
    own.document.name = "certificates/own.pdf"
    own.save()
    with pytest.raises(PermissionDenied, match="Nobody verifies their own"):
        services.certificate_verify(actor=trainer, certificate_id=own.pk)
    own.refresh_from_db()
    assert own.status == "submitted"
