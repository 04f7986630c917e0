"""Every state change of steps 1 and 2 (STYLE §2).

Each function runs in one transaction, locks the row it changes, checks the
transition is allowed (ValidationError with a message a person can act on
otherwise), saves with update_fields, writes the audit event, queues the
notification to whoever must act next, and sends `participation_changed`.
Portal views, admin actions and the expiry job all call these.
"""

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.access import (Work, agency_people, can_accept_join_requests, can_terminate_agreement,
                             can_work_program_setup, countersign_refusal, does, require, require_persona,
                             staff_doing)
from accounts.models import Organization, Persona
from accounts.services import invitation_send
from hmis_portal.core import bulk, documents, registry, webhooks
from hmis_portal.core.audit import record_event
from hmis_portal.core.calendar import local_date
from hmis_portal.core.dates import day_text, moment_text
from hmis_portal.core.inputs import check_single_line
from hmis_portal.core.outbox import notify
from hmis_portal.core.signals import send_on_commit

from .models import (AgreementCopy, AgreementTemplate, CESOrganizationRole, JoinRequest, OnboardingPolicy, OrganizationAgreement,
                     OrganizationCESRole, Program, ProgramType)
from .selectors import agreement_submitted, executed_agreements
from .signals import participation_changed

Status = OrganizationAgreement.Status
SetupStatus = Program.SetupStatus

AGREEMENT_SIGNERS = (Persona.EXECUTIVE_DIRECTOR,)
PROGRAM_MANAGERS = (Persona.PROGRAM_MANAGER,)
# Who is told of a termination, and why (the confirmation names the same people).
TOLD_OF_TERMINATION = AGREEMENT_SIGNERS + PROGRAM_MANAGERS


def _changed(organization):
    # On commit: HMIS access re-evaluates in its own transaction, after this one.
    send_on_commit(participation_changed, sender=OrganizationAgreement, organization=organization)




# --- step 1: the Organization Agreement ---------------------------------------------------------------------------

def _validate_signing(signer_name: str, signer_title: str, signed_on: dt.date | None) -> None:
    check_single_line(signer_name=signer_name, signer_title=signer_title)
    errors = {}
    if not (signer_name or "").strip():
        errors["signer_name"] = "Enter the name of the person who signed the agreement."
    if not (signer_title or "").strip():
        errors["signer_title"] = "Enter the signer's title."
    if signed_on is None:
        errors["signed_on"] = "Enter the date the agreement was signed."
    elif signed_on > local_date():
        errors["signed_on"] = "The signing date cannot be in the future."
    if errors:
        raise ValidationError(errors)


def agreement_upload(*, actor, organization, upload, signer_name: str, signer_title: str, signed_on: dt.date,
                     submit: bool = True) -> OrganizationAgreement:
    """The ED/Authorized Representative uploads a signed scan (seed 000, step 1.1).

    With no agreement being worked on, this starts one (a renewal when one is
    in force); on a draft or a returned agreement it adds a corrected copy,
    keeping every earlier one. With `submit`, the agreement goes to CoC staff.
    Nothing is written when the file or the signing details are wrong.
    """
    require_persona(actor, organization, AGREEMENT_SIGNERS, "upload the Organization Agreement")
    _validate_signing(signer_name, signer_title, signed_on)
    kind = documents.validate_document(upload)  # before anything is written
    upload.document_kind = kind
    with documents.atomic():
        # Lock the organization's open agreement, if any, so two uploads at once
        # add versions one after the other (the unique constraint catches a
        # second agreement being created at the same moment).
        agreement = (OrganizationAgreement.objects.select_for_update()
                     .filter(organization=organization, status__in=OrganizationAgreement.OPEN_STATUSES).first())
        if agreement is not None and agreement.status == Status.SUBMITTED:
            raise ValidationError(
                "An agreement is already waiting for the CoC's countersignature. You can upload a corrected copy "
                "if CoC staff return it.")
        created = agreement is None
        if created:
            in_force = (OrganizationAgreement.objects.filter(organization=organization, status=Status.EXECUTED)
                        .order_by("-countersigned_at").first())
            agreement = OrganizationAgreement(organization=organization, created_by=actor, renewal_of=in_force)
            try:
                with transaction.atomic():
                    agreement.save()
            except IntegrityError as exc:
                raise ValidationError("Another agreement for this agency was just started; reload the page.") from exc
            record_event(actor=actor, subject=agreement, verb="started agreement", to_state=Status.DRAFT,
                         reason=f"Renewal of agreement #{in_force.pk}" if in_force else "")
        version = (agreement.copies.aggregate(v=Max("version"))["v"] or 0) + 1
        copy = AgreementCopy(agreement=agreement, version=version, signer_name=signer_name.strip(),
                             signer_title=signer_title.strip(), signed_on=signed_on, uploaded_by=actor,
                             size=upload.size, template=AgreementTemplate.current())
        documents.attach(copy, "document", upload)
        copy.full_clean(exclude=["document"])
        copy.save()
        agreement.signer_name, agreement.signer_title, agreement.signed_on = (
            copy.signer_name, copy.signer_title, copy.signed_on)
        agreement.save(update_fields=["signer_name", "signer_title", "signed_on"])
        record_event(actor=actor, subject=agreement, verb=f"uploaded copy {version}",
                     reason=f"Signed by {copy.signer_name}, {copy.signer_title}, on {day_text(copy.signed_on)}")
        if submit:
            _submit(actor, agreement)
    return agreement


def agreement_submit(*, actor, agreement: OrganizationAgreement) -> OrganizationAgreement:
    """Send a draft or a corrected returned agreement to CoC staff."""
    require_persona(actor, agreement.organization, AGREEMENT_SIGNERS, "submit the Organization Agreement")
    with transaction.atomic():
        agreement = OrganizationAgreement.objects.select_for_update().select_related("organization").get(
            pk=agreement.pk)
        _submit(actor, agreement)
    return agreement


def _submit(actor, agreement):
    if agreement.status == Status.SUBMITTED:
        raise ValidationError("This agreement was already submitted; it is waiting for the CoC's countersignature.")
    if agreement.status not in (Status.DRAFT, Status.RETURNED):
        raise ValidationError(f"An agreement that is {agreement.get_status_display().lower()} cannot be submitted.")
    if not agreement.copies.exists():
        raise ValidationError("Upload the signed agreement before submitting it.")
    if agreement.status == Status.RETURNED:
        latest = agreement.copies.order_by("-version").first()
        if agreement.returned_at and latest.uploaded_at <= agreement.returned_at:
            raise ValidationError("Upload a corrected copy before submitting the agreement again.")
    previous = agreement.status
    now = timezone.now()
    agreement.status = Status.SUBMITTED
    agreement.submitted_by, agreement.submitted_at, agreement.status_changed_at = actor, now, now
    agreement.save(update_fields=["status", "submitted_by", "submitted_at", "status_changed_at"])
    record_event(actor=actor, subject=agreement, verb="submitted agreement", from_state=previous,
                 to_state=Status.SUBMITTED)
    notify(
        recipients=staff_doing(Work.COUNTERSIGN),
        subject=f"Organization Agreement to countersign: {agreement.organization}",
        body=(f"{agreement.organization} submitted its signed Organization Agreement "
              f"(signed by {agreement.signer_name}, {agreement.signer_title}). Review it and countersign the "
              "CoC Representative section, or return it with a reason."),
        link=reverse("admin:onboarding_organizationagreement_change", args=[agreement.pk]),
    )
    _changed(agreement.organization)


def _lock_for_staff(agreement_pk):
    return OrganizationAgreement.objects.select_for_update().select_related("organization").get(pk=agreement_pk)


def _require_countersigner(actor, agreement):
    """Checked after the lock, on the row as it is: nobody countersigns or
    returns an agreement they submitted, or one of their own agency."""
    refusal = countersign_refusal(actor, agreement)
    require(not refusal, refusal)


def agreement_countersign(*, actor, agreement: OrganizationAgreement) -> OrganizationAgreement:
    """CoC staff sign the CoC Representative section: the agreement is executed.

    A double-click, or two staff at once, finds the row already executed
    (the lock makes the second wait for the first) and changes nothing.
    """
    require(does(actor, Work.COUNTERSIGN), countersign_refusal(actor, agreement))
    with transaction.atomic():
        agreement = _lock_for_staff(agreement.pk)
        _require_countersigner(actor, agreement)
        if agreement.status == Status.EXECUTED:
            raise ValidationError(
                f"This agreement was already countersigned by {agreement.countersigned_by} on "
                f"{moment_text(agreement.countersigned_at)}.")
        if agreement.status != Status.SUBMITTED:
            raise ValidationError(f"Only a submitted agreement can be countersigned; this one is "
                                  f"{agreement.get_status_display().lower()}.")
        now = timezone.now()
        policy = OnboardingPolicy.current()
        agreement.status = Status.EXECUTED
        agreement.countersigned_by, agreement.countersigned_at, agreement.status_changed_at = actor, now, now
        agreement.expires_on = policy.expiry_for(local_date(now))
        agreement.save(update_fields=["status", "countersigned_by", "countersigned_at", "status_changed_at",
                                      "expires_on"])
        record_event(actor=actor, subject=agreement, verb="countersigned agreement", from_state=Status.SUBMITTED,
                     to_state=Status.EXECUTED,
                     reason=f"In force until {day_text(agreement.expires_on)}" if agreement.expires_on else "")
        notify(
            recipients=agency_people(agreement.organization, AGREEMENT_SIGNERS + PROGRAM_MANAGERS),
            subject=f"Your Organization Agreement is executed — {agreement.organization}",
            body=("The CoC countersigned your Organization Agreement (step 1 is complete). Your Program Manager "
                  "can now name the organization's CES roles and request program setup (step 2)."),
            link=reverse("onboarding:participation", args=[agreement.organization.slug]),
        )
        webhooks.emit(event="agreement.executed", subject=agreement, data={
            "state": agreement.status, "agency_id": agreement.organization_id,
            "link": reverse("onboarding:agreement-detail", args=[agreement.pk])})
        _changed(agreement.organization)
    return agreement


def agreement_return(*, actor, agreement: OrganizationAgreement, reason: str) -> OrganizationAgreement:
    """CoC staff send the agreement back with what to correct; the agency uploads a corrected copy."""
    require(does(actor, Work.COUNTERSIGN), countersign_refusal(actor, agreement))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say what the agency must correct; they will see it."})
    with transaction.atomic():
        agreement = _lock_for_staff(agreement.pk)
        _require_countersigner(actor, agreement)
        if agreement.status != Status.SUBMITTED:
            raise ValidationError(f"Only a submitted agreement can be returned; this one is "
                                  f"{agreement.get_status_display().lower()}.")
        now = timezone.now()
        agreement.status = Status.RETURNED
        agreement.returned_by, agreement.returned_at, agreement.status_changed_at = actor, now, now
        agreement.return_reason = reason
        agreement.save(update_fields=["status", "returned_by", "returned_at", "status_changed_at", "return_reason"])
        record_event(actor=actor, subject=agreement, verb="returned agreement", from_state=Status.SUBMITTED,
                     to_state=Status.RETURNED, reason=reason)
        notify(
            recipients=agency_people(agreement.organization, AGREEMENT_SIGNERS),
            subject=f"Your Organization Agreement was returned — {agreement.organization}",
            body=f"The CoC returned your Organization Agreement for correction:\n\n{reason}\n\n"
                 "Upload a corrected, signed copy to submit it again.",
            link=reverse("onboarding:agreement-detail", args=[agreement.pk]),
        )
        webhooks.emit(event="agreement.returned", subject=agreement, data={
            "state": agreement.status, "agency_id": agreement.organization_id,
            "link": reverse("onboarding:agreement-detail", args=[agreement.pk])})
        _changed(agreement.organization)
    return agreement


def agreement_terminate(*, actor, agreement: OrganizationAgreement, reason: str) -> OrganizationAgreement:
    """CoC staff end an executed agreement before its term (the agency leaves
    the CoC, or broke it), with a reason the agency sees.

    Like an expiry, an agency left with no agreement in force no longer
    participates: the later stages act in this same transaction (its HMIS
    accounts made Inactive and `active=false` queued for the HMIS, set-based,
    through `registry.agreements_lapsed`). A double submit, or two staff at
    once, finds the row already terminated (the lock makes the second wait)
    and changes nothing."""
    require(can_terminate_agreement(actor, agreement),
            "Only the CoC's implementation team and system administrators terminate agreements, and never one "
            "of their own agency.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the agreement is terminated; the agency will see it."})
    with transaction.atomic():
        agreement = _lock_for_staff(agreement.pk)
        require(can_terminate_agreement(actor, agreement), "You may not terminate this agreement.")
        if agreement.status == Status.TERMINATED:
            raise ValidationError(
                f"This agreement was already terminated by {agreement.terminated_by} on "
                f"{moment_text(agreement.terminated_at)}.")
        if agreement.status != Status.EXECUTED:
            raise ValidationError(f"Only an executed agreement can be terminated; this one is "
                                  f"{agreement.get_status_display().lower()}.")
        now = timezone.now()
        agreement.status = Status.TERMINATED
        agreement.terminated_by, agreement.terminated_at, agreement.status_changed_at = actor, now, now
        agreement.termination_reason = reason
        agreement.save(update_fields=["status", "terminated_by", "terminated_at", "status_changed_at",
                                      "termination_reason"])
        record_event(actor=actor, subject=agreement, verb="terminated agreement", from_state=Status.EXECUTED,
                     to_state=Status.TERMINATED, reason=reason)
        organization = agreement.organization
        notify(
            recipients=agency_people(organization, TOLD_OF_TERMINATION),
            subject=f"Your Organization Agreement was terminated — {organization}",
            body=(f"The CoC terminated {organization}'s Organization Agreement:\n\n{reason}\n\n"
                  "To participate in HMIS for CES again, sign and upload a new agreement."),
            link=reverse("onboarding:agreement-detail", args=[agreement.pk]),
        )
        webhooks.emit(event="agreement.terminated", subject=agreement, data={
            "state": agreement.status, "agency_id": agreement.organization_id,
            "link": reverse("onboarding:agreement-detail", args=[agreement.pk])})
        if not executed_agreements(organization).exists():
            for provider in registry.agreements_lapsed:
                provider(organization_ids=[organization.pk], at=now, actor=actor,
                         why=f"The agency's Organization Agreement was terminated: {reason}")
        _changed(organization)
    return agreement


def agreement_expire(*, agreement_pk: int, today: dt.date) -> bool:
    """The expiry of one agreement (see `agreements_expire`). True when this call expired it."""
    return agreements_expire(agreement_pks=[agreement_pk], today=today) == 1


def agreements_expire(*, agreement_pks, today: dt.date) -> int:
    """The expiry job: executed agreements past their last day expire, in one
    transaction for the set. Agencies left with no agreement in force are told,
    and the later stages act on them in this same transaction (their HMIS
    accounts made Inactive and `active=false` queued for the HMIS, set-based,
    through `registry.agreements_lapsed`). Returns how many this call expired:
    a row already expired by someone else is left alone (a re-run, or two
    runs at once, expire each agreement once)."""
    pks = sorted(set(agreement_pks))
    if not pks:
        return 0
    with transaction.atomic():
        # The rows themselves, in key order (no join: PostgreSQL would re-check
        # a joined row after waiting for the lock and drop the agreement); the
        # status is read after the lock, so a second run finds them expired.
        agreements = list(OrganizationAgreement.objects.select_for_update().filter(
            pk__in=pks, status=Status.EXECUTED, expires_on__lt=today).order_by("pk"))
        if not agreements:
            return 0
        now = timezone.now()
        OrganizationAgreement.objects.filter(pk__in=[a.pk for a in agreements]).update(
            status=Status.EXPIRED, expired_at=now, status_changed_at=now)
        organizations = Organization.objects.in_bulk({a.organization_id for a in agreements})
        for agreement in agreements:
            agreement.status, agreement.expired_at, agreement.status_changed_at = Status.EXPIRED, now, now
            agreement.organization = organizations[agreement.organization_id]
            record_event(actor=None, subject=agreement, verb="agreement expired", from_state=Status.EXECUTED,
                         to_state=Status.EXPIRED, reason=f"Term ended on {day_text(agreement.expires_on)}")
        renewed = set(OrganizationAgreement.objects.filter(
            organization_id__in=organizations, status=Status.EXECUTED).values_list("organization_id", flat=True))
        lapsed = sorted(set(organizations) - renewed)
        # Each lapsed agency is told once, of its latest agreement.
        latest = {agreement.organization_id: agreement for agreement in agreements}
        for agreement in latest.values():
            if agreement.organization_id in lapsed:
                notify(
                    recipients=agency_people(agreement.organization, AGREEMENT_SIGNERS + PROGRAM_MANAGERS),
                    subject=f"Your Organization Agreement has expired — {agreement.organization}",
                    body=("Your Organization Agreement's term has ended. Sign and upload a new agreement to keep "
                          "participating in HMIS for CES."),
                    link=reverse("onboarding:participation", args=[agreement.organization.slug]),
                    dedupe_key=f"agreement-expired:{agreement.pk}",
                )
        if lapsed:
            for provider in registry.agreements_lapsed:
                provider(organization_ids=lapsed, at=now)
        for organization in organizations.values():
            _changed(organization)
    return len(agreements)


def agreement_remind_renewal(*, agreement: OrganizationAgreement, days_left: int, tier: int) -> int:
    """Remind the agency that its agreement ends in `days_left` days. Once per agreement and reminder tier."""
    return len(notify(
        recipients=agency_people(agreement.organization, AGREEMENT_SIGNERS),
        subject=f"Renew your Organization Agreement — it ends {day_text(agreement.expires_on)}",
        body=(f"{agreement.organization}'s Organization Agreement ends on {day_text(agreement.expires_on)} "
              f"({days_left} day{pluralize(days_left)} from now). Sign a new agreement and upload it so your participation continues."),
        link=reverse("onboarding:agreement-upload", args=[agreement.organization.slug]),
        dedupe_key=f"agreement-renewal:{agreement.pk}:{agreement.expires_on}:{tier}",
    ))


# --- step 2: CES roles and program setup --------------------------------------------------------------------------

def ces_roles_set(*, actor, organization, roles) -> list[CESOrganizationRole]:
    """The Program Manager names the organization's CES roles (one or more; seed 000, step 2.3)."""
    require_persona(actor, organization, PROGRAM_MANAGERS, "name the organization's CES roles")
    roles = list(roles)
    if not roles:
        raise ValidationError({"roles": "Choose at least one CES role."})
    if any(not role.active for role in roles):
        raise ValidationError({"roles": "One of the chosen roles is no longer offered."})
    with transaction.atomic():
        # Serialize edits of one organization's roles through its row.
        type(organization).objects.select_for_update().get(pk=organization.pk)
        current = {link.role_id: link for link in OrganizationCESRole.objects.filter(organization=organization)}
        wanted = {role.pk: role for role in roles}
        if set(current) == set(wanted):
            return roles
        before = ", ".join(sorted(link.role.name for link in current.values()))
        OrganizationCESRole.objects.filter(organization=organization).exclude(role_id__in=wanted).delete()
        OrganizationCESRole.objects.bulk_create([
            OrganizationCESRole(organization=organization, role=role, named_by=actor)
            for pk, role in wanted.items() if pk not in current
        ])
        after = ", ".join(sorted(role.name for role in roles))
        record_event(actor=actor, subject=organization, verb="named CES roles", from_state=before[:80],
                     to_state=after[:80], reason=after)
        _changed(organization)
    return roles


def program_setup_request(*, actor, organization, name: str, program_type: ProgramType,
                          request_kind: str = Program.RequestKind.CREATE, existing_hmis_program: str = "",
                          details: str = "") -> Program:
    """The Program Manager asks the implementation team to create or modify a program (seed 000, step 2.4).

    Only once the agreement is submitted (step 1 first). Permanent Housing needs no
    setup modification (seed 000), so such a program goes straight to
    ready-to-confirm.
    """
    require_persona(actor, organization, PROGRAM_MANAGERS, "request program setup")
    check_single_line(name=name, existing_hmis_program=existing_hmis_program)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Enter the program's name."})
    if request_kind == Program.RequestKind.MODIFY and not existing_hmis_program.strip():
        raise ValidationError({"existing_hmis_program": "Name the HMIS program to modify."})
    with transaction.atomic():
        type(organization).objects.select_for_update().get(pk=organization.pk)
        if not agreement_submitted(organization):
            raise ValidationError("Program setup can be requested once the Organization Agreement is submitted.")
        if Program.objects.filter(organization=organization, name__iexact=name).exists():
            raise ValidationError({"name": "This agency already has a program with this name."})
        now = timezone.now()
        needs_setup = program_type.needs_setup_modification
        program = Program(
            organization=organization, name=name, program_type=program_type, request_kind=request_kind,
            existing_hmis_program=existing_hmis_program.strip(), details=details.strip(), requested_by=actor,
            setup_status=SetupStatus.REQUESTED if needs_setup else SetupStatus.SETUP_COMPLETE,
            status_changed_at=now, created_at=now,
        )
        if not needs_setup:
            program.setup_completed_at = now
        program.full_clean()
        program.save()
        record_event(actor=actor, subject=program, verb="requested program setup", to_state=program.setup_status,
                     reason="" if needs_setup else f"{program_type} programs need no setup modification.")
        if needs_setup:
            notify(
                recipients=staff_doing(Work.PROGRAM_SETUP),
                subject=f"Program setup requested: {program.name} ({organization})",
                body=f"{organization} asks to {program.get_request_kind_display().lower()}: {program.name} "
                     f"({program_type}).",
                link=reverse("admin:onboarding_program_change", args=[program.pk]),
            )
        else:
            _tell_program_manager_to_confirm(program)
        _changed(organization)
    return program


def _tell_program_manager_to_confirm(program):
    notify(
        recipients=agency_people(program.organization, PROGRAM_MANAGERS),
        subject=f"Confirm the setup of {program.name}",
        body=(f"The HMIS setup of {program.name} ({program.program_type}) is ready. Check it and confirm it is "
              "valid, or report a problem."),
        link=reverse("onboarding:program-detail", args=[program.pk]),
    )


def _lock_program(program_pk):
    # Only the program's own row: locking the joined agency and program type
    # too would make every setup of that type, at any agency, wait for this one
    # (and block new programs of the type, whose insert needs a key-share lock).
    return Program.objects.select_for_update(of=("self",)).select_related(
        "organization", "program_type").get(pk=program_pk)


def _require_agreement_submitted(organization):
    """Seed 000: step 2 follows step 1. Setup is worked only while the agency's
    agreement is submitted or executed (a returned one must come back first)."""
    if not agreement_submitted(organization):
        raise ValidationError(f"{organization} has no submitted Organization Agreement; program setup waits for "
                              "it (step 1 comes first).")


def _require_implementation(actor):
    require(can_work_program_setup(actor), "Only the CoC's implementation team may work program setup.")


def _move(actor, program, to_state, *, verb, reason="", extra_fields=()):
    previous = program.setup_status
    program.setup_status = to_state
    program.status_changed_at = timezone.now()
    program.save(update_fields=["setup_status", "status_changed_at", *extra_fields])
    record_event(actor=actor, subject=program, verb=verb, from_state=previous, to_state=to_state, reason=reason)
    _changed(program.organization)


def program_setup_start(*, actor, program: Program) -> Program:
    """The implementation team picks up a request."""
    _require_implementation(actor)
    with transaction.atomic():
        program = _lock_program(program.pk)
        if program.setup_status == SetupStatus.IN_PROGRESS:
            raise ValidationError("This setup is already in progress.")
        if program.setup_status != SetupStatus.REQUESTED:
            raise ValidationError(f"Only a requested setup can be started; this one is "
                                  f"{program.get_setup_status_display().lower()}.")
        _require_agreement_submitted(program.organization)
        _move(actor, program, SetupStatus.IN_PROGRESS, verb="started program setup")
    return program


def program_setup_ask(*, actor, program: Program, question: str) -> Program:
    """The implementation team needs information from the Program Manager."""
    _require_implementation(actor)
    question = (question or "").strip()
    if not question:
        raise ValidationError({"question": "Write the question the Program Manager must answer."})
    with transaction.atomic():
        program = _lock_program(program.pk)
        if program.setup_status not in Program.COC_STATUSES:
            raise ValidationError(f"A setup that is {program.get_setup_status_display().lower()} cannot be "
                                  "sent back with a question.")
        program.question, program.answer = question, ""
        _move(actor, program, SetupStatus.NEEDS_INFORMATION, verb="asked for information", reason=question,
              extra_fields=("question", "answer"))
        notify(
            recipients=agency_people(program.organization, PROGRAM_MANAGERS),
            subject=f"The HMIS implementation team has a question about {program.name}",
            body=f"{question}\n\nAnswer it in the portal so setup can continue.",
            link=reverse("onboarding:program-detail", args=[program.pk]),
        )
    return program


def program_setup_answer(*, actor, program: Program, answer: str) -> Program:
    """The Program Manager answers; the request goes back to the implementation team."""
    require_persona(actor, program.organization, PROGRAM_MANAGERS, "answer the implementation team")
    answer = (answer or "").strip()
    if not answer:
        raise ValidationError({"answer": "Write your answer."})
    with transaction.atomic():
        program = _lock_program(program.pk)
        if program.setup_status != SetupStatus.NEEDS_INFORMATION:
            raise ValidationError("There is no open question on this program; your answer was already sent.")
        program.answer = answer
        _move(actor, program, SetupStatus.IN_PROGRESS, verb="answered question", reason=answer,
              extra_fields=("answer",))
        notify(
            recipients=staff_doing(Work.PROGRAM_SETUP),
            subject=f"Answer received: {program.name} ({program.organization})",
            body=f"Question: {program.question}\n\nAnswer: {answer}",
            link=reverse("admin:onboarding_program_change", args=[program.pk]),
        )
    return program


def program_setup_complete(*, actor, program: Program, hmis_program_id: str = "") -> Program:
    """The implementation team finished the setup; the Program Manager must confirm it (seed 000, step 2.5)."""
    _require_implementation(actor)
    check_single_line(hmis_program_id=hmis_program_id)
    with transaction.atomic():
        program = _lock_program(program.pk)
        if program.setup_status == SetupStatus.SETUP_COMPLETE:
            raise ValidationError("This setup is already marked complete.")
        if program.setup_status not in Program.COC_STATUSES:
            raise ValidationError(f"A setup that is {program.get_setup_status_display().lower()} cannot be "
                                  "marked complete.")
        _require_agreement_submitted(program.organization)
        program.setup_completed_by, program.setup_completed_at = actor, timezone.now()
        fields = ["setup_completed_by", "setup_completed_at"]
        if hmis_program_id.strip():
            program.hmis_program_id = hmis_program_id.strip()
            fields.append("hmis_program_id")
        _move(actor, program, SetupStatus.SETUP_COMPLETE, verb="completed program setup", extra_fields=fields)
        _tell_program_manager_to_confirm(program)
    return program


def program_setup_confirm(*, actor, program: Program) -> Program:
    """The Program Manager confirms the setup is valid: the program is confirmed."""
    require_persona(actor, program.organization, PROGRAM_MANAGERS, "confirm program setup")
    with transaction.atomic():
        program = _lock_program(program.pk)
        if program.setup_status == SetupStatus.CONFIRMED:
            raise ValidationError("This program's setup is already confirmed.")
        if program.setup_status != SetupStatus.SETUP_COMPLETE:
            raise ValidationError("The implementation team has not finished this setup yet.")
        program.confirmed_by, program.confirmed_at = actor, timezone.now()
        _move(actor, program, SetupStatus.CONFIRMED, verb="confirmed program setup",
              extra_fields=("confirmed_by", "confirmed_at"))
        notify(
            recipients=agency_people(program.organization, (Persona.AGENCY_ADMINISTRATOR,)),
            subject=f"{program.name} is set up and confirmed",
            body="Program setup is confirmed (step 2). Users of this program can now be identified for training "
                 "and access (step 3).",
            link=reverse("onboarding:participation", args=[program.organization.slug]),
        )
        webhooks.emit(event="program.setup_confirmed", subject=program, data={
            "state": program.setup_status, "agency_id": program.organization_id,
            "link": reverse("onboarding:program-detail", args=[program.pk])})
    return program


def program_setup_report_problem(*, actor, program: Program, problem: str) -> Program:
    """The Program Manager finds the setup not valid; it goes back to the implementation team."""
    require_persona(actor, program.organization, PROGRAM_MANAGERS, "report a problem with program setup")
    problem = (problem or "").strip()
    if not problem:
        raise ValidationError({"problem": "Describe what is wrong with the setup."})
    with transaction.atomic():
        program = _lock_program(program.pk)
        if program.setup_status != SetupStatus.SETUP_COMPLETE:
            raise ValidationError("Only a setup marked complete can be sent back.")
        _move(actor, program, SetupStatus.IN_PROGRESS, verb="reported a setup problem", reason=problem)
        notify(
            recipients=staff_doing(Work.PROGRAM_SETUP),
            subject=f"Setup problem reported: {program.name} ({program.organization})",
            body=problem,
            link=reverse("admin:onboarding_program_change", args=[program.pk]),
        )
    return program


# --- joining: an organization asks, the implementation team accepts or declines ---------------------------------

class JoinLimitReached(Exception):
    """The address the public page was sent from has sent JOIN_REQUESTS_PER_HOUR
    requests in the past hour."""


def _join_limit_reached(client_key: str) -> bool:
    """Counted in the database, the one store every web process shares and
    that is there whenever a request can be recorded at all: a count kept in
    a process's memory or in the cache would give each process (or a cache
    outage) an allowance of its own. Call inside the transaction that
    records the request."""
    # Requests from one address wait for each other here until the one before
    # commits, so two at the same moment cannot both be the last one allowed.
    bulk.wait_for_key(client_key)
    recent = JoinRequest.objects.filter(client_key=client_key, created_at__gt=timezone.now() - dt.timedelta(hours=1))
    return recent.count() >= settings.JOIN_REQUESTS_PER_HOUR


def join_request_create(*, organization_name: str, contact_name: str, contact_email: str, phone: str = "",
                        ces_roles=(), note: str = "", client_key: str = "") -> JoinRequest:
    """From the public "Join HMIS" page. The same organization and contact
    asking again while a request waits is the same request (a double submit).
    `client_key` is the keyed hash of the sender's address: a new request
    from an address that sent JOIN_REQUESTS_PER_HOUR in the past hour raises
    JoinLimitReached."""
    # The name becomes part of the implementation team's subject line.
    check_single_line(organization_name=organization_name, contact_name=contact_name, contact_email=contact_email,
                      phone=phone)
    organization_name, contact_email = organization_name.strip(), contact_email.strip().lower()
    with transaction.atomic():
        existing = JoinRequest.objects.filter(organization_name__iexact=organization_name,
                                              contact_email__iexact=contact_email,
                                              status=JoinRequest.Status.REQUESTED).first()
        if existing is not None:
            return existing
        if client_key and _join_limit_reached(client_key):
            raise JoinLimitReached
        join_request = JoinRequest(organization_name=organization_name, contact_name=contact_name.strip(),
                                   contact_email=contact_email, phone=phone.strip(), note=note.strip(),
                                   client_key=client_key)
        # The one-waiting-request constraint is the database's to check (below):
        # checked here too, a request committed a moment ago would be a form error.
        join_request.full_clean(validate_constraints=False)
        try:
            with transaction.atomic():
                join_request.save()
        except IntegrityError:
            # The same request sent at the same moment (a double click): theirs stands.
            return JoinRequest.objects.get(organization_name__iexact=organization_name,
                                           contact_email__iexact=contact_email, status=JoinRequest.Status.REQUESTED)
        join_request.ces_roles.set(ces_roles)
        # The contact has no account yet: the history names them, not a scheduled job.
        record_event(actor=None, subject=join_request, verb="asked to join", to_state=JoinRequest.Status.REQUESTED,
                     reason=f"{contact_name} <{contact_email}>",
                     data={"actor_name": f"{join_request.contact_name} ({contact_email})"})
        notify(recipients=staff_doing(Work.MANAGE_AGENCIES),
               subject=f"{organization_name} asks to join HMIS for CES",
               body=f"{contact_name} ({contact_email}) asks for {organization_name} to take part in HMIS for CES. "
                    "Accept it to create the agency and invite its Executive Director and Program Manager, or "
                    "decline it with a reason.",
               link=reverse("onboarding:join-request", args=[join_request.pk]))
        notify(recipients=[contact_email], subject="We received your request to join HMIS",
               body=f"Thank you. The CoC's HMIS implementation team will review the request for "
                    f"{organization_name} and email you at this address.")
    return join_request


def _lock_join_request(join_request) -> JoinRequest:
    return JoinRequest.objects.select_for_update(of=("self",)).get(pk=join_request.pk)


def _require_own_decision(actor, locked: JoinRequest) -> None:
    """A repeat of one's own decision (a double click) changes nothing; someone
    else's decision is not reported back as this person's."""
    if locked.decided_by_id != actor.pk:
        raise ValidationError(f"This request was already {locked.get_status_display().lower()} by "
                              f"{locked.decided_by or 'the CoC'} ({moment_text(locked.status_changed_at)}); "
                              "nothing changed.")


def join_request_accept(*, actor, join_request: JoinRequest, program_manager_email: str,
                        program_manager_name: str = "") -> Organization:
    """Create the agency and invite its Executive Director (the contact) and
    Program Manager by email. Accepting twice creates one agency: the second
    finds the request accepted and returns the same agency."""
    require(can_accept_join_requests(actor), "Only the CoC's implementation team accepts requests to join.")
    check_single_line(program_manager_email=program_manager_email, program_manager_name=program_manager_name)
    with transaction.atomic():
        locked = _lock_join_request(join_request)
        if locked.status == JoinRequest.Status.ACCEPTED:
            _require_own_decision(actor, locked)
            return locked.organization
        if locked.status == JoinRequest.Status.DECLINED:
            raise ValidationError("This request was declined; the organization may ask again.")
        name = locked.organization_name
        if (Organization.objects.filter(name__iexact=name).exists()
                or Organization.objects.filter(slug=slugify(name)[:200]).exists()):
            raise ValidationError(f"An agency named {name} already exists. Invite its people from its page, or "
                                  "decline this request saying so.")
        organization = Organization(name=name)
        organization.full_clean(exclude=["slug"])
        organization.save()
        locked.status = JoinRequest.Status.ACCEPTED
        locked.status_changed_at = timezone.now()
        locked.decided_by = actor
        locked.organization = organization
        locked.program_manager_email = program_manager_email.strip().lower()
        locked.save(update_fields=["status", "status_changed_at", "decided_by", "organization",
                                   "program_manager_email"])
        record_event(actor=actor, subject=locked, verb="accepted", from_state=JoinRequest.Status.REQUESTED,
                     to_state=JoinRequest.Status.ACCEPTED, reason=f"created {organization}")
        record_event(actor=actor, subject=organization, verb="created the agency", reason="from its request to join")
        # The CES roles the contact named on the Join form are the agency's
        # until its Program Manager changes them.
        roles = [role for role in locked.ces_roles.all() if role.active]
        if roles:
            OrganizationCESRole.objects.bulk_create([OrganizationCESRole(organization=organization, role=role)
                                                     for role in roles])
            named = ", ".join(sorted(role.name for role in roles))
            record_event(actor=actor, subject=organization, verb="named CES roles", to_state=named[:80],
                         reason=f"{named}, as the request to join named them")
        invitation_send(actor=actor, organization=organization, email=locked.contact_email,
                        persona=Persona.EXECUTIVE_DIRECTOR, full_name=locked.contact_name)
        same = locked.program_manager_email == locked.contact_email
        invitation_send(actor=actor, organization=organization, email=locked.program_manager_email,
                        persona=Persona.PROGRAM_MANAGER,
                        full_name=locked.contact_name if same else program_manager_name)
    return organization


def join_request_decline(*, actor, join_request: JoinRequest, reason: str) -> JoinRequest:
    """Decline with a reason the contact is emailed. Declining twice changes nothing."""
    require(can_accept_join_requests(actor), "Only the CoC's implementation team declines requests to join.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the request is declined; the contact is told."})
    with transaction.atomic():
        locked = _lock_join_request(join_request)
        if locked.status == JoinRequest.Status.DECLINED:
            _require_own_decision(actor, locked)
            return locked
        if locked.status == JoinRequest.Status.ACCEPTED:
            raise ValidationError("This request was already accepted.")
        locked.status = JoinRequest.Status.DECLINED
        locked.status_changed_at = timezone.now()
        locked.decided_by = actor
        locked.decline_reason = reason
        locked.save(update_fields=["status", "status_changed_at", "decided_by", "decline_reason"])
        record_event(actor=actor, subject=locked, verb="declined", from_state=JoinRequest.Status.REQUESTED,
                     to_state=JoinRequest.Status.DECLINED, reason=reason)
        notify(recipients=[locked.contact_email], subject="Your request to join HMIS",
               body=f"The CoC's HMIS implementation team declined the request for {locked.organization_name}:"
                    f"\n\n{reason}")
    return locked


def agreement_template_upload(*, actor, document, resign_required: bool = False, note: str = "") -> AgreementTemplate:
    """The implementation team uploads the current blank Organization
    Agreement. Agreements in force stay in force (their renewal is signed on
    the new version); with `resign_required`, agreements awaiting
    countersignature on an earlier version are returned to be signed again."""
    import hashlib

    from accounts.access import can_manage_agreement_templates, require

    require(can_manage_agreement_templates(actor), "Only the CoC's implementation team uploads the blank agreement.")
    kind = documents.validate_document(document)
    document.document_kind = kind
    digest = hashlib.sha256()
    document.seek(0)
    for chunk in document.chunks():
        digest.update(chunk)
    document.seek(0)
    with documents.atomic():
        version = (AgreementTemplate.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        template = AgreementTemplate(version=version, sha256=digest.hexdigest(), resign_required=resign_required,
                                     note=(note or "").strip()[:300], uploaded_by=actor)
        documents.attach(template, "document", document)
        try:
            with transaction.atomic():
                template.save()
        except IntegrityError as exc:
            raise ValidationError("Another blank version was uploaded at the same moment; reload the page.") from exc
        record_event(actor=actor, subject=template, verb="uploaded blank agreement", to_state=f"version {version}",
                     data={"sha256": template.sha256, "resign_required": resign_required})
        if resign_required:
            waiting = (OrganizationAgreement.objects.filter(status=Status.SUBMITTED)
                       .exclude(copies__template=template).order_by("pk"))
            for agreement in waiting:
                agreement_return(actor=actor, agreement=agreement,
                                 reason=f"A new version of the Organization Agreement (version {version}) must be "
                                        "signed; download it from the portal, sign it and upload it.")
    return template
