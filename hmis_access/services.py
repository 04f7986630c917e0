"""Every state change of access requests (STYLE §2): identifying a user,
readiness against the checklist, and granting HMIS access."""

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.access import (Work, agency_people, approval_refusal, can_identify_users, grant_refusal,
                             is_coc_staff_account, is_member, persona_labels, require, staff_doing)
from accounts.models import Membership, Persona, User
from hmis_portal.core import provisioning, webhooks
from hmis_portal.core.audit import record_event
from hmis_portal.core.dates import deadline_text, moment_text
from hmis_portal.core.inputs import check_single_line, has_control_characters
from hmis_portal.core.outbox import notify
from training import policy
from training.models import CESRole
from training.selectors import hmis_groups

from .checklist import build_checklist, build_checklists, for_checklists
from .models import AccessPolicy, AccessRequest, HMISAccount
from .provisioning import is_overdue, provisioning_due

def _requesters(organization):
    """The agency's people who ask for access under the CoC's policy: told of readiness and grants."""
    return agency_people(organization, AccessPolicy.current().requester_personas)


def _request_link(access_request) -> str:
    return reverse("access-request-detail", kwargs={"slug": access_request.organization.slug,
                                                    "pk": access_request.pk})


# --- identifying a user ---------------------------------------------------

def password_set_link(*, user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


def access_request_create(*, actor, organization, full_name: str, email: str, new_hmis_user: bool, roles,
                          programs) -> AccessRequest:
    """A person of the agency (the personas of the CoC's access policy: the
    Program Manager or Agency Administrator in LA) identifies a user and their
    CES roles (seed 000, step 3.1). Raises ValidationError, changing nothing,
    when a role does not fit the agency's programs, the email belongs to
    someone elsewhere, or the person already has a request or HMIS access.
    Where the policy has an approval step (seed 003) the request waits for
    CoC staff before the checklist starts."""
    access_policy = AccessPolicy.current()
    require(can_identify_users(actor, organization, access_policy.requester_personas),
            f"HMIS access is requested by the agency's {persona_labels(access_policy.requester_personas)}.")
    check_single_line(full_name=full_name, email=email)
    email = (email or "").strip().lower()
    full_name = (full_name or "").strip()
    roles, programs = list(roles), list(programs)
    errors = {}
    if not full_name:
        errors["full_name"] = "Give the person's full name."
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = "Give the person's work email address."
    if not roles:
        errors["roles"] = "Choose at least one CES role."
    if any(p.organization_id != organization.pk for p in programs):
        errors["programs"] = f"Choose only programs of {organization}."
    if errors:
        raise ValidationError(errors)

    agency_type_ids = set(organization.programs.values_list("program_type_id", flat=True))
    for role in policy.misfit_roles(roles, agency_type_ids):
        types = ", ".join(t.name for t in role.program_types.all())
        errors.setdefault("roles", []).append(
            f"{role.name} needs a program of type {types}, and {organization} has none. Ask the implementation team to "
            f"set one up (step 2) or choose another role.")
    if not errors:
        chosen_type_ids = {p.program_type_id for p in programs}
        for role in policy.misfit_roles(roles, chosen_type_ids):
            types = ", ".join(t.name for t in role.program_types.all())
            errors.setdefault("programs", []).append(
                f"{role.name} works in a program of type {types}: tick the program this person will work in.")
        fitting = [p for p in programs if any(r.fits(p.program_type_id) for r in roles if not r.any_program_type)]
        if not any(r.any_program_type for r in roles) and len(fitting) != len(programs):
            extra = ", ".join(p.name for p in programs if p not in fitting)
            errors.setdefault("programs", []).append(f"None of the chosen roles works in {extra}. Untick it.")
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        user = User.objects.select_for_update().filter(email__iexact=email).first()
        created = user is None
        if user is not None:
            if is_coc_staff_account(user):
                raise ValidationError({"email": "That address belongs to CoC staff; CoC staff are not requested here."})
            if not is_member(user, organization):
                raise ValidationError({"email": (
                    "That email address is already used by a person at another agency. A person's portal login "
                    "belongs to one agency: use their address at your agency, or ask the CoC's HMIS support.")})
            live = user.access_requests.filter(status__in=AccessRequest.LIVE).first()
            if live is not None:
                raise ValidationError({"email": (
                    f"{user} already has an open access request ({live.get_status_display().lower()}); "
                    "open it from your agency's user list.")})
            account = HMISAccount.objects.filter(user=user).first()
            if account is not None and account.status == HMISAccount.Status.ACTIVE:
                raise ValidationError({"email": f"{user} already has HMIS access (username {account.hmis_username})."})
        else:
            try:
                # Two leads identifying the same new person at once: the
                # unique email lets one through; the other is told, not a 500.
                with transaction.atomic():
                    user = User.objects.create_user(email=email, full_name=full_name)
            except IntegrityError as exc:
                raise ValidationError({"email": f"{email} was already identified a moment ago by someone else at your "
                                                "agency; open them from your agency's user list."}) from exc
            user.set_unusable_password()
            user.save(update_fields=["password"])
            Membership.objects.create(user=user, organization=organization, persona=Persona.STAFF)
        needs_approval = access_policy.access_requests_need_approval
        access_request = AccessRequest(organization=organization, user=user, new_hmis_user=new_hmis_user,
                                       requested_by=actor,
                                       status=AccessRequest.Status.AWAITING_APPROVAL if needs_approval
                                       else AccessRequest.Status.OPEN)
        access_request.full_clean(exclude=["roles", "programs"])
        try:
            with transaction.atomic():
                access_request.save()
        except IntegrityError as exc:
            # Two submits of the same form at once: the constraint lets one through.
            raise ValidationError({"email": f"{user} already has an open access request."}) from exc
        access_request.roles.set(roles)
        access_request.programs.set(programs)
        record_event(actor=actor, subject=access_request, verb="identified user", to_state=access_request.status,
                     data={"roles": [r.code for r in roles], "programs": [p.pk for p in programs],
                           "new_hmis_user": new_hmis_user})
        if needs_approval:
            next_step = ("CoC staff approve the request first; you will be told when to start your trainings "
                         "and forms.")
            notify(recipients=staff_doing(Work.APPROVE_ACCESS),
                   subject=f"HMIS access request to approve: {user}",
                   body=f"{actor} at {organization} asks for HMIS access for {user}. Approve or decline it.",
                   link=reverse("access-approvals"))
        else:
            next_step = "Your checklist is in the portal."
        if created or not user.has_usable_password():
            body = (f"{actor} at {organization} has asked for HMIS access for you. Set a password for the HMIS "
                    "Portal with the link below; the portal then shows your checklist: the trainings to attend "
                    "and the forms to sign." + (f" {next_step}" if needs_approval else ""))
            notify(recipients=[user], subject="Your HMIS Portal login", body=body, link=password_set_link(user=user))
        else:
            notify(recipients=[user], subject="HMIS access requested for you",
                   body=f"{actor} at {organization} has asked for HMIS access for you. {next_step}",
                   link=reverse("my-access"))
        access_request_refresh(access_request=access_request)
    return access_request


# --- the CoC's approval, where its policy has one (seed 003) -----------------

def _lock_request(access_request_id: int) -> AccessRequest:
    # The bare row, no join: PostgreSQL re-checks a joined row after waiting
    # for the lock and could drop it; related rows are read after.
    return AccessRequest.objects.select_for_update(of=("self",)).get(pk=access_request_id)


def _not_awaiting(access_request) -> str:
    """Why a request that no longer waits for approval cannot be decided again."""
    who = access_request.decided_by or "another staff member"
    if access_request.status == AccessRequest.Status.DECLINED:
        return (f"This request was already declined by {who} at {moment_text(access_request.decided_at)}. "
                "Nothing changed.")
    if access_request.status == AccessRequest.Status.WITHDRAWN:
        return "This request was withdrawn by the agency. Nothing changed."
    if access_request.decided_at is not None:
        return (f"This request was already approved by {who} at {moment_text(access_request.decided_at)}. "
                "Nothing changed.")
    return "This request does not wait for the CoC's approval. Nothing changed."


def _next_steps(checklist) -> str:
    """What the user does next, in the policy's own titles (seed 003: the User
    Policy and Responsibilities form, Security & Privacy Awareness, Data Standards)."""
    courses = [item.obj.title for item in checklist.blockers if item.kind == "course"]
    forms = [item.obj.title for item in checklist.blockers if item.kind == "form"]
    parts = []
    if forms:
        parts.append("submit the signed " + " and ".join(forms))
    if courses:
        parts.append("complete " + ", ".join(courses[:-1]) + (" and " if len(courses) > 1 else "") + courses[-1])
    if not parts:
        return "Every training and form on your checklist is already done; CoC staff will grant access."
    return "Next: " + "; ".join(parts) + ". Your checklist in the portal shows how (sessions, uploads)."


def _lock_awaiting(actor, access_request_id: int) -> AccessRequest:
    """The locked request, if this person may decide it and it still awaits
    the CoC's approval; a second decision is told who made the first."""
    access_request = _lock_request(access_request_id)
    refusal = approval_refusal(actor, access_request)
    require(not refusal, refusal)
    if access_request.status != AccessRequest.Status.AWAITING_APPROVAL:
        raise ValidationError(_not_awaiting(access_request))
    return access_request


def access_request_approve(*, actor, access_request_id: int, now: dt.datetime | None = None) -> AccessRequest:
    """CoC staff approve a request awaiting approval: it starts gathering its
    checklist (and can become ready, which starts the provisioning deadline,
    only from now). The user is told what to do next and the requester that it
    was approved. A second approval (double submit, or two staff at once)
    finds it decided and changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        access_request = _lock_awaiting(actor, access_request_id)
        access_request.status = AccessRequest.Status.OPEN
        access_request.decided_by = actor
        access_request.decided_at = now
        access_request.save(update_fields=["status", "decided_by", "decided_at"])
        record_event(actor=actor, subject=access_request, verb="approved",
                     from_state=AccessRequest.Status.AWAITING_APPROVAL, to_state=access_request.status)
        user, organization = access_request.user, access_request.organization
        steps = _next_steps(build_checklist(access_request))
        if user.has_usable_password():
            notify(recipients=[user], subject="Your HMIS access request was approved",
                   body=f"The CoC approved the request for your HMIS access at {organization}. {steps}",
                   link=reverse("my-access"))
        else:
            notify(recipients=[user], subject="Your HMIS access request was approved",
                   body=(f"The CoC approved the request for your HMIS access at {organization}. {steps} Set a "
                         "password for the HMIS Portal with the link below to see your checklist."),
                   link=password_set_link(user=user))
        if access_request.requested_by_id:
            notify(recipients=[access_request.requested_by], subject=f"HMIS access request approved: {user}",
                   body=f"The CoC approved the HMIS access request for {user}. They have been told what to do next.",
                   link=_request_link(access_request))
        access_request_refresh(access_request=access_request, actor=actor, now=now)
    return access_request


def access_request_decline(*, actor, access_request_id: int, reason: str,
                           now: dt.datetime | None = None) -> AccessRequest:
    """CoC staff decline a request awaiting approval, with a reason the
    requester is told. Declining twice changes nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the request is declined; the agency is told."})
    if len(reason) > 2000:
        raise ValidationError({"reason": "Keep the reason to 2,000 characters."})
    if has_control_characters(reason):
        raise ValidationError({"reason": "Remove the invisible control characters from the reason."})
    with transaction.atomic():
        access_request = _lock_awaiting(actor, access_request_id)
        access_request.status = AccessRequest.Status.DECLINED
        access_request.decided_by = actor
        access_request.decided_at = now or timezone.now()
        access_request.decline_reason = reason
        access_request.save(update_fields=["status", "decided_by", "decided_at", "decline_reason"])
        record_event(actor=actor, subject=access_request, verb="declined",
                     from_state=AccessRequest.Status.AWAITING_APPROVAL, to_state=access_request.status, reason=reason)
        if access_request.requested_by_id:
            notify(recipients=[access_request.requested_by],
                   subject=f"HMIS access request declined: {access_request.user}",
                   body=f"The CoC declined the HMIS access request for {access_request.user}.\n\nReason: {reason}",
                   link=_request_link(access_request))
    return access_request


def access_request_withdraw(*, actor, access_request_id: int, reason: str = "") -> AccessRequest:
    with transaction.atomic():
        access_request = AccessRequest.objects.select_for_update().get(pk=access_request_id)
        if access_request.status not in AccessRequest.LIVE:
            raise ValidationError(f"This request is {access_request.get_status_display().lower()}; nothing to withdraw.")
        old = access_request.status
        access_request.status = AccessRequest.Status.WITHDRAWN
        access_request.provisioning_due_at = None
        access_request.save(update_fields=["status", "provisioning_due_at"])
        record_event(actor=actor, subject=access_request, verb="withdrew", from_state=old,
                     to_state=access_request.status, reason=reason)
    return access_request


# --- readiness ------------------------------------------------------------

def access_requests_refresh(*, access_requests: "AccessRequest | QuerySet | Iterable[int]", actor=None,
                            now: dt.datetime | None = None) -> list[AccessRequest]:
    """Re-evaluate requests against their checklists: one request, a
    queryset of them or a set of ids, in a constant number of queries
    whatever their number (an agency's every request when its participation
    changes). Open → ready (setting the provisioning deadline) when every item
    is met; ready → open again if an item stops being met before access is
    granted; each transition audited and told as for one request. Called on
    every relevant change; a no-op for a request when nothing changed, and for
    one no longer live. Returns the live requests, locked and up to date,
    in the requests' own order (newest first)."""
    now = now or timezone.now()
    if isinstance(access_requests, AccessRequest):
        wanted = AccessRequest.objects.filter(pk=access_requests.pk)
    elif isinstance(access_requests, QuerySet):
        wanted = AccessRequest.objects.filter(pk__in=access_requests.order_by().values("pk"))
    else:
        wanted = AccessRequest.objects.filter(pk__in=list(access_requests))
    with transaction.atomic():
        # All at once, in key order: two refreshes of overlapping sets (an
        # agency's and one of its people's) wait for each other rather than
        # deadlock. The bare rows, no join: PostgreSQL re-checks a joined row
        # after waiting for the lock and could drop it; related rows are read after.
        ids = list(wanted.filter(status__in=AccessRequest.LIVE).select_for_update().order_by("pk")
                   .values_list("pk", flat=True))
        if not ids:
            return []
        locked = list(for_checklists(AccessRequest.objects.filter(pk__in=ids)))
        # Only an open or a ready request can move; one awaiting the CoC's
        # approval is left for the approval.
        movable = [r for r in locked if r.status in (AccessRequest.Status.OPEN, AccessRequest.Status.READY)]
        for checklist in build_checklists(movable, prefetched=True):
            _apply_readiness(checklist, actor=actor, now=now)
    return locked


def _apply_readiness(checklist, *, actor, now: dt.datetime) -> None:
    """One locked request's transition, if its checklist moved it."""
    locked = checklist.request
    if checklist.ready and locked.status == AccessRequest.Status.OPEN:
        locked.status = AccessRequest.Status.READY
        locked.ready_at = now
        locked.provisioning_due_at = provisioning_due(now)
        locked.save(update_fields=["status", "ready_at", "provisioning_due_at"])
        record_event(actor=actor, subject=locked, verb="became ready for provisioning",
                     from_state=AccessRequest.Status.OPEN, to_state=locked.status,
                     reason=f"Every item of the checklist is met. {deadline_text(locked.provisioning_due_at)}.",
                     data={"hmis_role": checklist.hmis_role})
        notify(recipients=staff_doing(Work.PROVISION),
               subject=f"HMIS access ready to provision: {locked.user}",
               body=(f"{locked.user} ({locked.organization}) is ready for HMIS access as {checklist.hmis_role}. "
                     f"{deadline_text(locked.provisioning_due_at)}."),
               link=reverse("admin:hmis_access_accessrequest_change", args=[locked.pk]))
        notify(recipients=[locked.user, *_requesters(locked.organization)],
               subject=f"Checklist complete: {locked.user}",
               body=(f"Every requirement for {locked.user}'s HMIS access is met. CoC staff will grant access. "
                     f"{deadline_text(locked.provisioning_due_at)}."),
               link=_request_link(locked))
        webhooks.emit(event="access_request.ready", subject=locked, data={
            "state": locked.status, "agency_id": locked.organization_id, "link": _request_link(locked)})
    elif not checklist.ready and locked.status == AccessRequest.Status.READY:
        locked.status = AccessRequest.Status.OPEN
        locked.ready_at = None
        locked.provisioning_due_at = None
        locked.save(update_fields=["status", "ready_at", "provisioning_due_at"])
        record_event(actor=actor, subject=locked, verb="no longer ready", from_state=AccessRequest.Status.READY,
                     to_state=locked.status, reason=f"Waiting on: {checklist.blocker_text}")


def access_request_refresh(*, access_request, actor=None, now: dt.datetime | None = None) -> AccessRequest:
    """One request against its checklist (`access_requests_refresh`): the
    locked, up-to-date row, or `access_request` itself when it is no longer live."""
    refreshed = access_requests_refresh(access_requests=access_request, actor=actor, now=now)
    return refreshed[0] if refreshed else access_request


def refresh_for_user(*, user, actor=None) -> None:
    access_requests_refresh(access_requests=AccessRequest.objects.filter(user=user), actor=actor)


def refresh_for_organization(*, organization, actor=None) -> None:
    access_requests_refresh(access_requests=AccessRequest.objects.filter(organization=organization), actor=actor)


# --- granting access ------------------------------------------------------

def granted_roles() -> list[str]:
    """The HMIS roles provisioning may grant: the CoC's CES roles' (policy rows), least access first."""
    return list(dict.fromkeys(CESRole.objects.order_by("access_rank").values_list("hmis_role", flat=True)))


def provision_grant(*, account: HMISAccount) -> int:
    """Queue the account's user in the CoC's HMIS (created, or linked to the
    HMIS user of the same username), active, in its HMIS role's group. The
    group of each HMIS role is the CoC's (the CES roles' `hmis_group`, from
    its policy pack); the groups the portal manages are those, so a role
    change moves the user out of the old group and HMIS groups of the HMIS's
    own are left alone."""
    if not provisioning.enabled():
        return 0
    user = account.user
    given, family = provisioning.name_parts(user.full_name)
    active = account.status == HMISAccount.Status.ACTIVE
    groups = hmis_groups()
    group, managed = groups.get(account.hmis_role, account.hmis_role), sorted(set(groups.values()))
    queued = provisioning.provision_create(
        account_id=account.pk, user_name=account.hmis_username, given_name=given, family_name=family,
        email=user.email, agency=account.organization.name, active=active, group=group, managed_groups=managed)
    if not queued:
        # Granted again (an account the HMIS already has): its state and role now.
        queued = (provisioning.provision_active(account_id=account.pk, active=active)
                  + provisioning.provision_group(account_id=account.pk, group=group, managed_groups=managed))
    return queued


def access_request_grant(*, actor, access_request_id: int, hmis_username: str, hmis_role: str,
                         now: dt.datetime | None = None) -> AccessRequest:
    """Provisioning staff record the HMIS account they created. Only a ready
    request can be granted; a second grant (double submit, or two staff at
    once) finds it already granted and changes nothing."""
    # The username goes to the HMIS over SCIM and into messages as typed.
    check_single_line(hmis_username=hmis_username)
    hmis_username = (hmis_username or "").strip()
    hmis_role = (hmis_role or "").strip()
    if not hmis_username or not hmis_role:
        raise ValidationError("Give both the HMIS username and the HMIS role.")
    if hmis_role not in granted_roles():
        raise ValidationError({"hmis_role": f"{hmis_role} is not one of the CoC's HMIS roles. Nothing changed."})
    now = now or timezone.now()
    with transaction.atomic():
        # The row lock serializes concurrent grants: the second waits here and
        # then sees the first one's result. Only the request's own row is
        # locked (no join), so the re-check after the wait cannot drop it.
        access_request = AccessRequest.objects.select_for_update(of=("self",)).select_related(
            "user", "organization").get(pk=access_request_id)
        refusal = grant_refusal(actor, access_request)
        require(not refusal, refusal)
        if access_request.status == AccessRequest.Status.PROVISIONED:
            who = access_request.provisioned_by or "another staff member"
            raise ValidationError(
                f"Access was already granted by {who} at {moment_text(access_request.provisioned_at)} "
                f"(username {access_request.hmis_username}). Nothing changed.")
        if access_request.status != AccessRequest.Status.READY:
            blockers = build_checklist(access_request).blocker_text or access_request.get_status_display()
            raise ValidationError(f"This request is not ready for provisioning. Still waiting on: {blockers}. "
                                  "Nothing changed.")
        taken = HMISAccount.objects.filter(hmis_username__iexact=hmis_username).exclude(user=access_request.user)
        if taken.exists():
            raise ValidationError(f"The HMIS username {hmis_username} belongs to another person. Nothing changed.")
        account = HMISAccount.objects.select_for_update().filter(user=access_request.user).first()
        if account is None:
            account = HMISAccount(user=access_request.user)
        account.organization = access_request.organization
        account.hmis_username = hmis_username
        account.hmis_role = hmis_role
        account.status = HMISAccount.Status.ACTIVE
        account.provisioned_at = now
        try:
            with transaction.atomic():
                account.save()
        except IntegrityError as exc:
            raise ValidationError(f"The HMIS username {hmis_username} was just taken. Nothing changed.") from exc
        access_request.status = AccessRequest.Status.PROVISIONED
        access_request.provisioned_at = now
        access_request.provisioned_by = actor
        access_request.hmis_username = hmis_username
        access_request.hmis_role = hmis_role
        access_request.save(update_fields=["status", "provisioned_at", "provisioned_by", "hmis_username",
                                           "hmis_role"])
        on_time = not is_overdue(access_request.provisioning_due_at, now)
        record_event(actor=actor, subject=access_request, verb="granted HMIS access",
                     from_state=AccessRequest.Status.READY, to_state=access_request.status,
                     reason=f"{hmis_username} as {hmis_role}" + ("" if on_time else " (after the deadline)"))
        record_event(actor=actor, subject=account, verb="provisioned", to_state=account.status,
                     reason=f"{hmis_role}, request #{access_request.pk}")
        # With an HMIS provisioning target, the grant reaches the HMIS itself:
        # queued in this transaction, delivered after commit by a worker.
        provision_grant(account=account)
        notify(recipients=[access_request.user], subject="Your HMIS access is ready",
               body=(f"Your HMIS account is ready. Username: {hmis_username}; role: {hmis_role}. Log in to HMIS "
                     f"at least every {AccessPolicy.current().inactive_after_days} days so it stays active."),
               link=reverse("my-access"))
        notify(recipients=_requesters(access_request.organization),
               subject=f"HMIS access granted: {access_request.user}",
               body=f"{access_request.user} now has HMIS access as {hmis_role} (username {hmis_username}).",
               link=_request_link(access_request))
        webhooks.emit(event="access_request.granted", subject=access_request, data={
            "state": access_request.status, "agency_id": access_request.organization_id,
            "link": _request_link(access_request)})
    return access_request
