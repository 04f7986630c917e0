"""Every state change of training records and user forms (STYLE §2). Each
change that can complete a checklist item re-evaluates the person's access
requests (the `training_record_changed` signal) once the change commits."""

import datetime as dt
import hashlib

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from accounts.access import (can_manage_form_templates, can_review_training, can_sign_form_as, form_signer_refusal,
                             form_signers, require, training_order_refusal)
from accounts.models import User
from hmis_portal.core.audit import record_event
from hmis_portal.core.calendar import local_date
from hmis_portal.core.dates import moment_text
from hmis_portal.core import documents
from hmis_portal.core.documents import attach
from hmis_portal.core.inputs import check_single_line
from hmis_portal.core.outbox import notify
from hmis_portal.core.signals import send_on_commit

from .calendar import registration_invitation
from .models import (Certificate, Completion, Course, FormSignature, FormSubmission, FormTemplate, Registration,
                     RequiredForm, Review, Signer, TrainingSession)
from .signals import training_record_changed


def _refresh(user, actor):
    # On commit: HMIS access re-evaluates in its own transaction, after this one.
    send_on_commit(training_record_changed, sender=Completion, user=user, actor=actor)


def _my_access():
    return reverse("my-access")


def _require_in_order(*, actor, person, item) -> None:
    """Refuse, before anything is written, work on `person`'s course or form
    that the CoC's policy puts after something not done yet (its `waits_for`:
    other courses and forms, or CoC approval of the person's access)."""
    refusal = training_order_refusal(actor, person, item)
    if refusal:
        raise ValidationError(refusal)


# --- sessions and registrations ---------------------------------------

def _seats_taken(session) -> int:
    return session.registrations.filter(status__in=[Registration.Status.REGISTERED,
                                                    Registration.Status.ATTENDED]).count()


def session_register(*, actor, session_id: int) -> Registration:
    """Register `actor` for a session: a seat if one is free, else the
    waitlist. Registering twice returns the existing registration. Where
    the course waits for something (CoC approval, another course), only after it."""
    course = TrainingSession.objects.select_related("course").get(pk=session_id).course
    _require_in_order(actor=actor, person=actor, item=course)
    with transaction.atomic():
        # Lock the session: seats are counted and taken under one lock. Only the
        # session's row: locking its course too would make every change to any
        # session of the course wait here, and deadlock with an attendance that
        # releases the person's other sessions of the course.
        session = TrainingSession.objects.select_for_update(of=("self",)).select_related("course").get(pk=session_id)
        existing = session.registrations.filter(user=actor).exclude(status=Registration.Status.CANCELLED).first()
        if existing is not None:
            return existing
        if session.cancelled:
            raise ValidationError("This session was cancelled. Choose another session.")
        if session.starts_at <= timezone.now():
            raise ValidationError("This session has already started. Choose a later session.")
        status = (Registration.Status.REGISTERED if _seats_taken(session) < session.capacity
                  else Registration.Status.WAITLISTED)
        try:
            with transaction.atomic():
                registration = Registration.objects.create(session=session, user=actor, status=status)
        except IntegrityError:
            return session.registrations.filter(user=actor).exclude(status=Registration.Status.CANCELLED).get()
        record_event(actor=actor, subject=registration, verb="registered", to_state=status)
        notify(recipients=[actor],
               subject=f"{'Registered' if status == Registration.Status.REGISTERED else 'Waitlisted'}: {session.course}",
               body=(f"You are {registration.get_status_display().lower()} for {session.course} on "
                     f"{moment_text(session.starts_at)}. Where: {session.where}."
                     + (" You will be told if a seat opens." if status == Registration.Status.WAITLISTED else "")),
               link=_my_access(), invitation=registration_invitation(registration))
        _refresh(actor, actor)
    return registration


def registration_cancel(*, actor, registration_id: int) -> Registration:
    """Cancel a registration; a freed seat goes to the first on the waitlist."""
    with transaction.atomic():
        registration = Registration.objects.select_related("session").get(pk=registration_id)
        session = TrainingSession.objects.select_for_update(of=("self",)).select_related("course").get(
            pk=registration.session_id)
        registration = Registration.objects.select_for_update().get(pk=registration_id)
        if registration.status == Registration.Status.CANCELLED:
            return registration
        if registration.status in (Registration.Status.ATTENDED, Registration.Status.NO_SHOW):
            raise ValidationError("Attendance is already recorded for this session; it cannot be cancelled.")
        old = registration.status
        _change_status(registration, Registration.Status.CANCELLED)
        record_event(actor=actor, subject=registration, verb="cancelled registration", from_state=old,
                     to_state=registration.status)
        registration.session = session
        notify(recipients=[registration.user], subject=f"Cancelled: your place in {session.course}",
               body=f"Your {old} place in {session} is cancelled.", link=_my_access(),
               invitation=registration_invitation(registration))
        if old == Registration.Status.REGISTERED:
            _promote_waitlist(session)
        _refresh(registration.user, actor)
    return registration


def _promote_waitlist(session) -> None:
    free = session.capacity - _seats_taken(session)
    waiting = list(session.registrations.select_for_update().filter(status=Registration.Status.WAITLISTED)
                   .select_related("user").order_by("created_at", "pk")[:max(free, 0)])
    for registration in waiting:
        _change_status(registration, Registration.Status.REGISTERED)
        record_event(actor=None, subject=registration, verb="promoted from the waitlist",
                     from_state=Registration.Status.WAITLISTED, to_state=registration.status)
        registration.session = session
        notify(recipients=[registration.user], subject=f"A seat opened: {session.course}",
               body=f"A seat opened and you are now registered for {session}. Where: {session.where}.",
               link=_my_access(), invitation=registration_invitation(registration))


def _change_status(registration: Registration, status: str) -> None:
    """A registration's new status, as a new revision of its calendar event."""
    registration.status, registration.updated_at = status, timezone.now()
    registration.sequence += 1
    registration.save(update_fields=["status", "updated_at", "sequence"])


def session_cancel(*, actor, session_id: int, reason: str) -> TrainingSession:
    """Training staff cancel a session: every registrant and waitlisted person
    is released and told why, so nobody still shows as registered for it."""
    require(can_review_training(actor), "Only CoC training staff cancel sessions.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the session is cancelled; registrants will see it."})
    with transaction.atomic():
        session = TrainingSession.objects.select_for_update(of=("self",)).select_related("course").get(pk=session_id)
        if session.cancelled:
            raise ValidationError("This session is already cancelled; nothing changed.")
        session.cancelled, session.updated_at = True, timezone.now()
        session.sequence += 1
        session.save(update_fields=["cancelled", "updated_at", "sequence"])
        record_event(actor=actor, subject=session, verb="cancelled session", from_state="scheduled",
                     to_state="cancelled", reason=reason)
        released = list(session.registrations.select_for_update().filter(
            status__in=[Registration.Status.REGISTERED, Registration.Status.WAITLISTED]).select_related("user"))
        for registration in released:
            old = registration.status
            _change_status(registration, Registration.Status.CANCELLED)
            record_event(actor=actor, subject=registration, verb="released: session cancelled", from_state=old,
                         to_state=registration.status, reason=reason)
            registration.session = session
            notify(recipients=[registration.user], subject=f"Cancelled: {session.course}",
                   body=(f"{session} was cancelled: {reason}\n\nRegister for another session of "
                         f"{session.course} in the portal."),
                   link=reverse("training:sessions") + f"?course={session.course.code}",
                   invitation=registration_invitation(registration))
        for registration in released:
            _refresh(registration.user, actor)
    return session


def session_set_capacity(*, actor, session_id: int, capacity: int) -> TrainingSession:
    """Training staff change the number of seats; new seats go to the
    waitlist in order. Fewer seats than people registered is refused (cancel
    registrations first, so nobody loses a seat silently)."""
    require(can_review_training(actor), "Only CoC training staff change a session's seats.")
    if capacity is None or capacity < 1:
        raise ValidationError({"capacity": "A session needs at least one seat."})
    with transaction.atomic():
        session = TrainingSession.objects.select_for_update(of=("self",)).select_related("course").get(pk=session_id)
        if session.cancelled:
            raise ValidationError("This session is cancelled; its seats cannot change.")
        if capacity == session.capacity:
            return session
        taken = _seats_taken(session)
        if capacity < taken:
            raise ValidationError({"capacity": f"{taken} people hold seats; give at least {taken} seats or cancel "
                                               "registrations first."})
        old = session.capacity
        session.capacity = capacity
        session.save(update_fields=["capacity"])
        record_event(actor=actor, subject=session, verb="changed seats", from_state=str(old), to_state=str(capacity))
        _promote_waitlist(session)
    return session


def session_reschedule(*, actor, session_id: int, starts_at, ends_at, webinar_url: str = "",
                       location: str = "") -> TrainingSession:
    """Training staff move a session or change where it is held: everyone
    registered or waitlisted is told, with an updated invitation their
    calendar applies to the event it already has (a higher SEQUENCE)."""
    require(can_review_training(actor), "Only CoC training staff reschedule sessions.")
    check_single_line(location=location)
    with transaction.atomic():
        session = TrainingSession.objects.select_for_update(of=("self",)).select_related("course").get(pk=session_id)
        if session.cancelled:
            raise ValidationError("This session is cancelled; schedule a new one instead.")
        if session.starts_at <= timezone.now():
            raise ValidationError("This session has already started; it cannot be moved.")
        before = (session.starts_at, session.ends_at, session.webinar_url, session.location)
        if (starts_at, ends_at, webinar_url, location) == before:
            return session
        if starts_at <= timezone.now():
            raise ValidationError({"starts_at": "Choose a time that has not passed."})
        old_text = f"{moment_text(session.starts_at)}, {session.where}"
        session.starts_at, session.ends_at, session.webinar_url, session.location = (
            starts_at, ends_at, webinar_url, location)
        session.full_clean(exclude=["course", "capacity", "notes", "cancelled", "created_at"])
        session.updated_at = timezone.now()
        session.sequence += 1
        session.save(update_fields=["starts_at", "ends_at", "webinar_url", "location", "updated_at", "sequence"])
        record_event(actor=actor, subject=session, verb="rescheduled session", from_state=old_text,
                     to_state=f"{moment_text(session.starts_at)}, {session.where}")
        for registration in session.registrations.filter(
                status__in=[Registration.Status.REGISTERED, Registration.Status.WAITLISTED]).select_related("user"):
            registration.session = session
            notify(recipients=[registration.user], subject=f"Changed: {session.course}",
                   body=(f"{session.course} has moved. It was {old_text}; it is now {moment_text(session.starts_at)}"
                         f" to {moment_text(session.ends_at)}. Where: {session.where}. Your "
                         f"{registration.get_status_display().lower()} place is kept."),
                   link=_my_access(), invitation=registration_invitation(registration))
    return session


def _lock_for_outcome(registration_id: int) -> Registration:
    """The registration, locked, if its attendance can be recorded now."""
    registration = Registration.objects.select_for_update(of=("self",)).select_related(
        "session__course", "user").get(pk=registration_id)
    if registration.status in (Registration.Status.ATTENDED, Registration.Status.NO_SHOW):
        raise ValidationError(f"{registration.user} is recorded as {registration.get_status_display().lower()} "
                              f"at {registration.session}: attendance is already recorded; nothing changed.")
    if registration.session.cancelled:
        raise ValidationError(f"{registration.session} was cancelled; nothing changed.")
    if registration.status == Registration.Status.CANCELLED:
        raise ValidationError(f"{registration.user} cancelled this registration; register them again first.")
    if registration.session.starts_at > timezone.now():
        raise ValidationError(f"{registration.session} has not started yet; record attendance after it.")
    return registration


def _release_for_completed_course(*, user, course, actor, keep: Registration | None = None) -> None:
    """A person who completed `course` needs none of its upcoming sessions: their
    seats and waitlist places go back, and the waitlists move up."""
    places = list(Registration.objects.filter(
        user=user, session__course=course, session__starts_at__gt=timezone.now(),
        status__in=[Registration.Status.REGISTERED, Registration.Status.WAITLISTED],
    ).exclude(pk=getattr(keep, "pk", None)).values_list("pk", "session_id"))
    released = []
    # Sessions locked in primary-key order, as in registration_cancel, so two releases cannot deadlock.
    for pk, session_id in sorted(places, key=lambda p: p[1]):
        session = TrainingSession.objects.select_for_update(of=("self",)).select_related("course").get(pk=session_id)
        registration = Registration.objects.select_for_update().get(pk=pk)
        if registration.status not in (Registration.Status.REGISTERED, Registration.Status.WAITLISTED):
            continue  # cancelled meanwhile
        old = registration.status
        _change_status(registration, Registration.Status.CANCELLED)
        record_event(actor=actor, subject=registration, verb="released registration: course completed",
                     from_state=old, to_state=registration.status, reason=f"{course} is complete.")
        released.append(session)
        if old == Registration.Status.REGISTERED:
            _promote_waitlist(session)
    if released:
        notify(recipients=[user], subject=f"Released: your other {course} sessions",
               body=(f"{course} is complete, so your place in "
                     + "; ".join(moment_text(s.starts_at) for s in released)
                     + " was given to someone waiting."),
               link=_my_access())


def registration_record_attendance(*, actor, registration_id: int) -> Registration:
    """CoC training staff record that a person attended: the course is complete,
    and the person's places in its other upcoming sessions are released.
    Recording it twice changes nothing and says so."""
    require(can_review_training(actor), "Only CoC training staff record attendance.")
    with transaction.atomic():
        registration = _lock_for_outcome(registration_id)
        old = registration.status
        registration.status = Registration.Status.ATTENDED
        registration.updated_at = timezone.now()
        registration.save(update_fields=["status", "updated_at"])
        Completion.objects.create(user=registration.user, course=registration.session.course,
                                  completed_on=local_date(registration.session.starts_at),
                                  source=Completion.Source.ATTENDANCE, registration=registration, recorded_by=actor)
        record_event(actor=actor, subject=registration, verb="recorded attendance", from_state=old,
                     to_state=registration.status)
        notify(recipients=[registration.user], subject=f"Completed: {registration.session.course}",
               body=f"CoC training staff recorded your attendance at {registration.session}.", link=_my_access())
        _release_for_completed_course(user=registration.user, course=registration.session.course, actor=actor,
                                      keep=registration)
        _refresh(registration.user, actor)
    return registration


def registration_record_no_show(*, actor, registration_id: int) -> Registration:
    """CoC training staff record that a registered person did not come: the
    course is not complete, and the person is asked to choose another session."""
    require(can_review_training(actor), "Only CoC training staff record attendance.")
    with transaction.atomic():
        registration = _lock_for_outcome(registration_id)
        old = registration.status
        registration.status = Registration.Status.NO_SHOW
        registration.updated_at = timezone.now()
        registration.save(update_fields=["status", "updated_at"])
        record_event(actor=actor, subject=registration, verb="recorded no-show", from_state=old,
                     to_state=registration.status)
        notify(recipients=[registration.user], subject=f"Missed: {registration.session.course}",
               body=(f"CoC training staff recorded that you did not attend {registration.session}. "
                     f"Register for another {registration.session.course} session to complete the course."),
               link=reverse("training:sessions") + f"?course={registration.session.course.code}")
        _refresh(registration.user, actor)
    return registration


# --- certificates -------------------------------------------------------

def certificate_submit(*, actor, course: Course, completed_on: dt.date, document) -> Certificate:
    """The person's certificate of a course, for CoC training staff to verify
    (where the course waits for something, only after it)."""
    _require_in_order(actor=actor, person=actor, item=course)
    if completed_on > local_date():
        raise ValidationError({"completed_on": "The date on the certificate cannot be in the future."})
    with documents.atomic():
        # One upload at a time per person: two at once would each supersede
        # only what was committed before them and leave two waiting for review.
        User.objects.select_for_update().filter(pk=actor.pk).first()
        certificate = Certificate(user=actor, course=course, completed_on=completed_on)
        attach(certificate, "document", document)
        certificate.save()
        # An earlier upload still waiting for review is replaced by this one.
        Certificate.objects.filter(user=actor, course=course, status=Review.SUBMITTED).exclude(
            pk=certificate.pk).update(status=Review.SUPERSEDED)
        record_event(actor=actor, subject=certificate, verb="uploaded certificate", to_state=certificate.status)
        _refresh(actor, actor)
    return certificate


def _review(queryset, pk: int, *, actor, to_status: str, reason: str = "", from_statuses=(Review.SUBMITTED,)):
    """Lock one upload awaiting review and move it to `to_status` (verified or
    returned). A second click, or another staff member who got there first,
    finds it no longer awaiting review: nothing changes."""
    require(can_review_training(actor), "Only CoC training staff verify or return certificates and forms.")
    # Only the upload's own row is locked: a join in FOR UPDATE would be
    # re-checked after waiting and could drop the row.
    upload = queryset.select_for_update(of=("self",)).get(pk=pk)
    require(upload.user_id != actor.pk, "Nobody verifies their own certificate or form.")
    if upload.status not in from_statuses:
        raise ValidationError(f"{upload} is {upload.get_status_display().lower()}; nothing changed.")
    upload.from_status = upload.status
    upload.status = to_status
    upload.reason = reason
    upload.reviewed_by, upload.reviewed_at = actor, timezone.now()
    upload.save(update_fields=["status", "reason", "reviewed_by", "reviewed_at"])
    return upload


def _required_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Give a reason, so the person knows what to fix.")
    return reason


def certificate_verify(*, actor, certificate_id: int) -> Certificate:
    with transaction.atomic():
        certificate = _review(Certificate.objects.select_related("course", "user"), certificate_id, actor=actor,
                              to_status=Review.VERIFIED)
        Completion.objects.create(user=certificate.user, course=certificate.course,
                                  completed_on=certificate.completed_on, source=Completion.Source.CERTIFICATE,
                                  certificate=certificate, recorded_by=actor)
        record_event(actor=actor, subject=certificate, verb="verified certificate", from_state=Review.SUBMITTED,
                     to_state=certificate.status)
        notify(recipients=[certificate.user], subject=f"Certificate verified: {certificate.course}",
               body=f"Your {certificate.course} certificate is verified; the course counts as complete.",
               link=_my_access())
        _release_for_completed_course(user=certificate.user, course=certificate.course, actor=actor)
        _refresh(certificate.user, actor)
    return certificate


def certificate_return(*, actor, certificate_id: int, reason: str) -> Certificate:
    """Reject a certificate (wrong course, unreadable, …) with a reason the
    user can act on."""
    reason = _required_reason(reason)
    with transaction.atomic():
        certificate = _review(Certificate.objects.select_related("course", "user"), certificate_id, actor=actor,
                              to_status=Review.RETURNED, reason=reason)
        record_event(actor=actor, subject=certificate, verb="returned certificate", from_state=Review.SUBMITTED,
                     to_state=certificate.status, reason=reason)
        notify(recipients=[certificate.user], subject=f"Certificate returned: {certificate.course}",
               body=f"Your {certificate.course} certificate was returned: {reason}", link=_my_access())
    return certificate


# --- user forms: signing in order, filing, blank versions -------------------

def _sha256(uploaded) -> str:
    digest = hashlib.sha256()
    uploaded.seek(0)
    for chunk in uploaded.chunks():
        digest.update(chunk)
    uploaded.seek(0)
    return digest.hexdigest()


def _same_name(typed: str, name: str) -> bool:
    return " ".join((typed or "").split()).casefold() == " ".join((name or "").split()).casefold()


def _role_label(role: str) -> str:
    return Signer(role).label if role != Signer.USER else "the user"


def form_page_url(*, form: RequiredForm, owner, recipient) -> str:
    """Where `recipient` signs or files `owner`'s form: their own page, or the agency's page of the user."""
    if recipient.pk == owner.pk:
        return reverse("training:form-upload", kwargs={"code": form.code})
    return reverse("training:form-person", kwargs={"code": form.code, "user_id": owner.pk})


def current_template(*, form: RequiredForm) -> FormTemplate | None:
    return form.templates.order_by("-version").first()


def _sign(*, actor, form: RequiredForm, owner, method: str, typed_name: str = "", attested: bool = False,
          document=None) -> FormSubmission:
    """Add `actor`'s signature to `owner`'s form, in the next place of the
    form's signers. Starts a new version when none is being signed (the
    first signer only); completes it with the last signature."""
    roles = form.signer_roles
    if method == FormSignature.Method.PORTAL:
        # The typed name is the signature: what is shown must be what is stored.
        check_single_line(typed_name=typed_name)
    with documents.atomic():
        # Every version of this person's form, locked (own rows only): two
        # signers at once, or a double submit, queue here and the second
        # finds the place already taken.
        versions = list(FormSubmission.objects.select_for_update(of=("self",)).filter(user=owner, form=form)
                        .order_by("-version"))
        if any(v.status == Review.VERIFIED for v in versions):
            raise ValidationError(f"{owner}'s {form.title} is already verified; there is nothing to upload or sign.")
        latest = versions[0] if versions else None
        signing = latest if latest is not None and latest.status == Review.SIGNING else None
        if latest is not None and latest.status == Review.SUBMITTED and len(roles) > 1:
            raise ValidationError(f"Everyone has signed {owner}'s {form.title}; CoC training staff verify it now.")
        signatures = list(signing.signatures.all()) if signing else []
        if any(sig.signer_id == actor.pk for sig in signatures):
            raise ValidationError(f"You have already signed {owner}'s {form.title}; nothing changed.")
        position = len(signatures)
        if position >= len(roles):
            raise ValidationError(f"The signers of {form.title} changed while it was being signed; CoC training "
                                  "staff return it so the signing starts again.")
        role = roles[position]
        refusal = form_signer_refusal(actor, owner, role)
        if refusal:
            later = next((r for r in roles[position + 1:] if can_sign_form_as(actor, owner, r)), None)
            if later is not None:
                who = "The user" if role == Signer.USER else f"The agency's {Signer(role).label}"
                raise ValidationError(f"{who} signs {form.title} before you; you will be told when it is your "
                                      "turn. Nothing changed.")
            raise PermissionDenied(refusal)
        # Who may sign is said first; then whether the form may start yet (its `waits_for`).
        _require_in_order(actor=actor, person=owner, item=form)
        if method == FormSignature.Method.PORTAL:
            if not form.in_portal:
                raise ValidationError(f"{form.title} is signed by uploading a scanned signed copy.")
            if not _same_name(typed_name, actor.full_name):
                raise ValidationError({"typed_name": f"Type your full name exactly as it is on your account "
                                                     f"({actor.full_name}) to sign."})
            if not attested:
                raise ValidationError({"attested": "Tick the box to attest to the statement before signing."})
        elif not form.by_upload:
            raise ValidationError(f"{form.title} is signed in the portal, not by upload.")
        template = signing.template if signing and signing.template_id else current_template(form=form)
        if method == FormSignature.Method.PORTAL and template is None:
            raise ValidationError(f"The blank {form.title} is not available yet, so it cannot be signed in the "
                                  "portal; CoC training staff upload it first.")
        if signing is None:
            version = (latest.version if latest else 0) + 1
            signing = FormSubmission(user=owner, form=form, version=version, status=Review.SIGNING,
                                     template=template)
            try:
                with transaction.atomic():
                    signing.save()
            except IntegrityError as exc:
                raise ValidationError("Someone signed this form at the same moment; reload the page.") from exc
        signature = FormSignature(submission=signing, position=position, role=role, signer=actor, method=method)
        if method == FormSignature.Method.PORTAL:
            signature.typed_name = " ".join(typed_name.split())
            signature.attestation = form.attestation
            signature.sha256 = template.sha256
        else:
            signature.sha256 = _sha256(document)
            attach(signature, "document", document)
            attach(signing, "document", document)
        try:
            with transaction.atomic():
                signature.save()
        except IntegrityError as exc:
            raise ValidationError("Someone signed this form at the same moment; reload the page.") from exc
        old = signing.status
        done = position + 1 == len(roles)
        fields = ["document"] if method == FormSignature.Method.UPLOAD else []
        if done:
            methods = {sig.method for sig in signatures} | {method}
            needs_review = FormSignature.Method.UPLOAD in methods or form.verify_portal_signatures
            signing.status = Review.SUBMITTED if needs_review else Review.VERIFIED
            signing.submitted_at = timezone.now()
            fields += ["status", "submitted_at"]
            if not needs_review:
                signing.reviewed_at = signing.submitted_at
                fields.append("reviewed_at")
        if fields:
            signing.save(update_fields=fields)
        if done:
            # A version still being signed, or an earlier upload awaiting review, is replaced by this one.
            FormSubmission.objects.filter(user=owner, form=form, status__in=[Review.SUBMITTED, Review.SIGNING]
                                          ).exclude(pk=signing.pk).update(status=Review.SUPERSEDED)
        record_event(actor=actor, subject=signing,
                     verb="signed form in the portal" if method == FormSignature.Method.PORTAL else "uploaded form",
                     from_state=old if position else "", to_state=signing.status,
                     data={"version": signing.version, "place": position + 1, "role": role, "method": method,
                           "sha256": signature.sha256, "typed_name": signature.typed_name,
                           "attestation": signature.attestation,
                           "blank_version": template.version if template else None,
                           "signed_at": signature.signed_at.isoformat()})
        if not done:
            nxt = roles[position + 1]
            recipients = form_signers(owner, nxt)
            for recipient in recipients:
                notify(recipients=[recipient], subject=f"Your signature is needed: {form.title} of {owner}",
                       body=(f"{actor} signed {owner}'s {form.title}. You sign it next, as "
                             f"{_role_label(nxt)}."), link=form_page_url(form=form, owner=owner, recipient=recipient))
        elif signing.status == Review.VERIFIED:
            notify(recipients=[owner], subject=f"{form.title} signed by everyone",
                   body=f"Everyone who signs your {form.title} has signed it; it counts as complete.",
                   link=_my_access())
        _refresh(owner, actor)
    return signing


def form_sign(*, actor, form: RequiredForm, owner, typed_name: str, attested: bool) -> FormSubmission:
    """Sign `owner`'s form in the portal: the typed full name must be the
    signer's name on their account, and the attestation ticked."""
    return _sign(actor=actor, form=form, owner=owner, method=FormSignature.Method.PORTAL, typed_name=typed_name,
                 attested=attested)


def form_submit(*, actor, form: RequiredForm, document, owner=None) -> FormSubmission:
    """Upload a scanned signed copy of a form: the user's own (owner omitted),
    or, for the agency's signers and filers, `owner`'s. Once a version is
    complete, nothing more is needed."""
    return _sign(actor=actor, form=form, owner=owner or actor, method=FormSignature.Method.UPLOAD,
                 document=document)


def form_template_upload(*, actor, form_id: int, document, resign_required: bool = False,
                         note: str = "") -> FormTemplate:
    """CoC staff upload the current blank version of a form. Copies signed on
    earlier versions stay valid, unless `resign_required`: then every version
    of the form signed (or being signed) on an earlier blank is returned, and
    its person's request needs the form again."""
    require(can_manage_form_templates(actor), "Only CoC training staff upload blank forms.")
    with documents.atomic():
        form = RequiredForm.objects.select_for_update().get(pk=form_id)
        version = (form.templates.aggregate(v=Max("version"))["v"] or 0) + 1
        template = FormTemplate(form=form, version=version, uploaded_by=actor, resign_required=resign_required,
                                note=(note or "").strip()[:300], sha256=_sha256(document))
        attach(template, "document", document)
        template.save()
        record_event(actor=actor, subject=template, verb="uploaded blank form", to_state=f"version {version}",
                     data={"sha256": template.sha256, "resign_required": resign_required})
        if resign_required:
            _return_earlier_versions(actor=actor, template=template)
    return template


def _return_earlier_versions(*, actor, template: FormTemplate) -> None:
    reason = f"A new version of the {template.form.title} (version {template.version}) must be signed."
    affected = list(FormSubmission.objects.select_for_update(of=("self",)).filter(
        form=template.form, status__in=[Review.SIGNING, Review.SUBMITTED, Review.VERIFIED],
    ).exclude(template=template).order_by("pk"))
    owners = {}
    for submission in affected:
        old = submission.status
        submission.status, submission.reason = Review.RETURNED, reason
        submission.reviewed_by, submission.reviewed_at = actor, timezone.now()
        submission.save(update_fields=["status", "reason", "reviewed_by", "reviewed_at"])
        record_event(actor=actor, subject=submission, verb="returned form: new version to sign", from_state=old,
                     to_state=submission.status, reason=reason)
        owners[submission.user_id] = submission.user
    for owner in owners.values():
        notify(recipients=form_signers(owner, template.form.signer_roles[0]),
               subject=f"Sign the new {template.form.title}",
               body=f"{reason} Download it from the portal and sign it again.",
               link=form_page_url(form=template.form, owner=owner, recipient=owner))
        _refresh(owner, actor)


def form_verify(*, actor, submission_id: int) -> FormSubmission:
    with transaction.atomic():
        submission = _review(FormSubmission.objects.select_related("form", "user"), submission_id, actor=actor,
                             to_status=Review.VERIFIED)
        record_event(actor=actor, subject=submission, verb="verified form", from_state=Review.SUBMITTED,
                     to_state=submission.status)
        notify(recipients=[submission.user], subject=f"{submission.form} verified",
               body=f"CoC training staff verified your {submission.form}.", link=_my_access())
        _refresh(submission.user, actor)
    return submission


def form_return(*, actor, submission_id: int, reason: str) -> FormSubmission:
    reason = _required_reason(reason)
    with transaction.atomic():
        # A form still being signed may be returned too: the signing starts again.
        submission = _review(FormSubmission.objects.select_related("form", "user"), submission_id, actor=actor,
                             to_status=Review.RETURNED, reason=reason, from_statuses=(Review.SUBMITTED,
                                                                                      Review.SIGNING))
        record_event(actor=actor, subject=submission, verb="returned form", from_state=submission.from_status,
                     to_state=submission.status, reason=reason)
        form, owner = submission.form, submission.user
        # The signing starts again with the first signer (who files the form).
        for recipient in form_signers(owner, form.signer_roles[0]):
            whose = "Your" if recipient.pk == owner.pk else f"{owner}’s"
            notify(recipients=[recipient], subject=f"{form} returned",
                   body=(f"{whose} {form} "
                         f"(version {submission.version}) was returned: {reason}. "
                         + ("Upload a corrected copy." if len(form.signer_roles) == 1 else
                            "The signing starts again from the first signer.")),
                   link=form_page_url(form=form, owner=owner, recipient=recipient) if recipient.pk != owner.pk else _my_access())
    return submission
