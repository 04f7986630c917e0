"""Reads of HMIS access: what lower layers are offered through the core's
registry, and what the grant form proposes."""

import re
from dataclasses import dataclass

from hmis_portal.core import registry

from .models import AccessPolicy, AccessRequest, HMISAccount, hmis_username_from_rule


def access_policy() -> AccessPolicy:
    """The CoC's access policy row (who asks for access; whether CoC staff approve)."""
    return AccessPolicy.current()


def active_hmis_accounts():
    """HMIS accounts whose holders may use HMIS now (Active)."""
    return HMISAccount.objects.filter(status=HMISAccount.Status.ACTIVE)


def proposed_hmis_username(access_request) -> str:
    """The HMIS username the grant form proposes (provisioning staff may type
    another): the person's own if they were granted before, else the CoC's
    rule (`AccessPolicy.hmis_username_rule`) applied to their name and email,
    with the first free number added when someone else has it. One query for
    the taken names."""
    return hmis_username_for(access_request.user)


def hmis_username_for(user) -> str:
    """`proposed_hmis_username` for a person: theirs if they hold an HMIS
    account, else the CoC's rule made of their name and email, numbered when
    taken (what the demo data's accounts are named by too)."""
    own = HMISAccount.objects.filter(user=user).values_list("hmis_username", flat=True).first()
    if own:
        return own
    base = hmis_username_from_rule(AccessPolicy.current().hmis_username_rule, full_name=user.full_name,
                                   email=user.email)
    numbered = re.compile(re.escape(base) + r"(\d*)", re.IGNORECASE)
    taken = {match.group(1) for name in HMISAccount.objects.filter(hmis_username__istartswith=base)
             .values_list("hmis_username", flat=True) if (match := numbered.fullmatch(name))}
    if "" not in taken:
        return base
    number = 2
    while str(number) in taken:
        number += 1
    return f"{base}{number}"


def access_hmis_account_for_provisioning(user, pk: int) -> HMISAccount:
    """The account if `user` may retry its provisioning into the HMIS: an
    account of an agency they may not see is a 404, anyone who may not
    provision gets 403."""
    from django.shortcuts import get_object_or_404

    from accounts import access

    account = get_object_or_404(access.restrict(HMISAccount.objects.select_related("user", "organization"), user),
                                pk=pk)
    access.require(access.can_retry_hmis_provisioning(user),
                   "Only CoC provisioning staff and system admins retry provisioning into the HMIS.")
    return account


def hmis_states(account_ids) -> dict:
    """Where each account stands in the HMIS (`provisioning.SubjectState`,
    keyed by the account id as text), in one query per 500 accounts; empty
    with no provisioning target, so pages show nothing of it."""
    from hmis_portal.core import provisioning

    if not provisioning.enabled():
        return {}
    return provisioning.subject_states(account_ids)


@dataclass(frozen=True)
class Unsynced:
    """Accounts the HMIS does not yet reflect, as one person may see them."""
    rows: list  # (HMISAccount, SubjectState), oldest first
    more: int  # further ones beyond the page


def unsynced_accounts(user, *, limit: int = 200) -> Unsynced:
    """The accounts `user` may see with a command pending or failed: granted,
    reactivated or changed in the portal, not yet (or not successfully) in
    the HMIS, the longest waiting first. A fixed number of queries whatever
    their number (a sweep may leave thousands waiting for a while)."""
    from django.db.models import CharField, Exists, OuterRef, Subquery
    from django.db.models.functions import Cast

    from accounts import access
    from hmis_portal.core import provisioning
    from hmis_portal.core.models import ProvisioningCommand

    if not provisioning.enabled():
        return Unsynced([], 0)
    waiting = (ProvisioningCommand.objects.filter(subject=Cast(OuterRef("pk"), output_field=CharField()))
               .exclude(status=ProvisioningCommand.Status.DONE))
    accounts = access.restrict(HMISAccount.objects.filter(Exists(waiting)), user)
    page = list(accounts.annotate(waiting_since=Subquery(waiting.order_by("pk").values("pk")[:1]))
                .select_related("user", "organization").order_by("waiting_since", "pk")[:limit + 1])
    more = accounts.count() - limit if len(page) > limit else 0
    page = page[:limit]
    states = provisioning.subject_states([a.pk for a in page])
    return Unsynced([(a, states[str(a.pk)]) for a in page if str(a.pk) in states], more)


@dataclass(frozen=True)
class InTheHMIS:
    """One account and where it stands in the HMIS, for a page about one person."""
    account: HMISAccount
    state: object  # provisioning.SubjectState

    @property
    def done(self) -> bool:
        return self.state.status == "synced"


def in_the_hmis(account: HMISAccount | None) -> InTheHMIS | None:
    """Where `account` stands in the HMIS; None without an account, a
    provisioning target, or any command (provisioned by hand)."""
    if account is None:
        return None
    state = hmis_states([account.pk]).get(str(account.pk))
    return InTheHMIS(account, state) if state else None


def approval_stage(user) -> str:
    """Where `user`'s HMIS access stands against the CoC's approval step
    (`registry.APPROVED`, `AWAITING`, `DECLINED` or `NO_REQUEST`). A request
    made before the step was turned on never waited for it, and anyone who
    holds an HMIS account (retraining, reactivation) is past it. Two queries."""
    if HMISAccount.objects.filter(user=user).exists():
        return registry.APPROVED
    statuses = set(AccessRequest.objects.filter(user=user).values_list("status", flat=True))
    if statuses & {AccessRequest.Status.OPEN, AccessRequest.Status.READY, AccessRequest.Status.PROVISIONED}:
        return registry.APPROVED
    if AccessRequest.Status.AWAITING_APPROVAL in statuses:
        return registry.AWAITING
    if AccessRequest.Status.DECLINED in statuses:
        return registry.DECLINED
    return registry.NO_REQUEST


def unmet_prerequisites(person, item) -> list[str]:
    """The courses and forms `person`'s `item` (a course or form) still waits
    for, by its `waits_for`, as the checklist of the person's live access
    request shows them; with no live request, or the item not on it, every
    course and form it names that the person has not completed or had
    verified. CoC approval is the approval stage's (`approval_stage`)."""
    from training import policy
    from training.models import APPROVAL, Completion, Course, FormSubmission, RequiredForm, Review

    from .checklist import build_checklist

    request = (AccessRequest.objects.filter(user=person, status__in=AccessRequest.LIVE)
               .order_by("-created_at", "-pk").first())
    kind = "course" if isinstance(item, Course) else "form"
    if request is not None:
        mine = next((i for i in build_checklist(request).items if i.kind == kind and i.obj.pk == item.pk), None)
        if mine is not None:
            return [label for code, label in zip(mine.wait_codes, mine.waits) if code != APPROVAL]
    codes = [code for code in item.waits_for if code != APPROVAL]
    completed = policy.completed_course_ids(
        Completion.objects.filter(user=person))
    verified = set(FormSubmission.objects.filter(user=person, status=Review.VERIFIED).values_list("form_id", flat=True))
    states = {c.code: (c.title, c.pk in completed) for c in Course.objects.filter(code__in=codes)}
    states |= {f.code: (f.title, f.pk in verified) for f in RequiredForm.objects.filter(code__in=codes)}
    return [label for code, label in policy.unmet_waits(item, approved=True, items=states) if code != APPROVAL]
