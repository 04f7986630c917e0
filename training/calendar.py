"""A registration as a calendar event: the .ics a person downloads and the
invitation their registration, a change of the session and a cancellation
are mailed with. One UID per registration, for its whole life; its SEQUENCE
is the session's revisions plus the registration's, so every change is a
higher number and calendar apps replace the copy they hold."""

from hmis_portal.core.ics import CalendarEvent, Person, calendar_file, uid
from hmis_portal.core.outbox import Invitation

from .models import Registration

PRODUCT = "Training"
# What the event says, by the registration's status.
_STATUS = {Registration.Status.WAITLISTED: ("TENTATIVE", "TENTATIVE"),
           Registration.Status.CANCELLED: ("CANCELLED", "DECLINED")}


def registration_event(registration: Registration) -> CalendarEvent:
    session = registration.session
    cancelled = session.cancelled or registration.status == Registration.Status.CANCELLED
    status, answer = ("CANCELLED", "DECLINED") if cancelled else _STATUS.get(
        registration.status, ("CONFIRMED", "ACCEPTED"))
    summary = session.course.title
    if registration.status == Registration.Status.WAITLISTED and not cancelled:
        summary = f"{summary} (waitlisted)"
    return CalendarEvent(
        uid=uid(f"training-registration-{registration.pk}"),
        summary=summary,
        start=session.starts_at,
        end=session.ends_at,
        location=session.where,
        url=session.webinar_url,
        sequence=session.sequence + registration.sequence,
        last_modified=max(session.updated_at, registration.updated_at),
        status=status,
        attendee=Person(name=registration.user.full_name or registration.user.email, email=registration.user.email),
        attendee_status=answer,
    )


def registration_calendar(registration: Registration) -> bytes:
    """The .ics file a person downloads (METHOD PUBLISH)."""
    return calendar_file([registration_event(registration)], product=PRODUCT)


def registration_invitation(registration: Registration) -> Invitation:
    """The invitation mailed with a change: REQUEST while the place is live
    (registered or waitlisted), CANCEL once it is not."""
    event = registration_event(registration)
    method = "CANCEL" if event.status == "CANCELLED" else "REQUEST"
    return Invitation(method=method, calendar=calendar_file([event], product=PRODUCT, method=method))
