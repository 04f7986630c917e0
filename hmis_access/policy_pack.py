"""HMIS access's section of a policy pack: the numbers of the access policy
(SPEC §3.6), and what a switch of packs does to the access requests in flight.

Checked and written by the loader (`hmis_portal/policy_pack.py`) with the
other apps' sections, in one transaction; the tools are the core's
(`hmis_portal/core/policy_pack.py`)."""

from django.core.exceptions import ValidationError

from accounts.models import Persona
from hmis_portal.core.policy_pack import check_policy, check_refs, update_policy
from training.policy_pack import course_codes

from .checklist import build_checklists, for_checklists
from .models import MAX_PROVISIONING_HOURS, AccessPolicy, AccessRequest, validate_username_rule
from .services import access_requests_refresh

SECTIONS = ("access_policy",)


def _check_personas(pack, path, value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        pack.error(path, f"must be a list of personas ({', '.join(Persona.values)}).")
        return None
    if not value:
        pack.error(path, f"name at least one persona ({', '.join(Persona.values)}).")
        return None
    unknown = [(index, v) for index, v in enumerate(value) if v not in Persona.values]
    for index, v in unknown:
        pack.error(path + (index,), f"unknown persona “{v}” (known: {', '.join(Persona.values)}).")
    if len(set(value)) != len(value):
        pack.error(path, "names a persona twice.")
        return None
    return None if unknown else ",".join(value)


def _check_username_rule(pack, path, value):
    try:
        validate_username_rule(value)
    except ValidationError as error:
        pack.error(path, " ".join(error.messages))
        return None
    return value


# The numbers of the access policy a pack may set; a pack sets only those it names.
ACCESS_POLICY_FIELDS = {
    # Exactly one of these two: the provisioning deadline in business days or in clock hours.
    "provisioning_business_days": {"type": "count"},
    "provisioning_hours": {"type": "count", "max": MAX_PROVISIONING_HOURS},
    # The share the provisioning chart expects by the deadline.
    "provisioning_target_percent": {"type": "count", "max": 100},
    "inactive_after_days": {"type": "count"},
    "retraining_after_days": {"type": "count"},
    "reminder_days_before": {"type": "daylist"},
    "login_reminder_days_of_month": {"type": "daylist"},
    "reactivation_login_hours": {"type": "count"},
    "at_risk_within_days": {"type": "count0"},
    "retraining_courses": {"type": "codes"},
    # Who asks for a person's access, and whether CoC staff approve it first (seed 003).
    "access_requesters": {"type": "personas", "check": _check_personas},
    "access_requests_need_approval": {"type": "bool"},
    # The HMIS username the grant form proposes.
    "hmis_username_rule": {"type": "username_rule", "check": _check_username_rule},
}
DEADLINE_KEYS = ("provisioning_business_days", "provisioning_hours")


def parse(pack, checked):
    checked["access_policy"] = check_policy(pack, "access_policy", ACCESS_POLICY_FIELDS, model=AccessPolicy)


def check(pack, checked):
    access = checked["access_policy"]
    if access and "retraining_courses" in access:
        check_refs(pack, [{"_path": ("access_policy",), "retraining_courses": access["retraining_courses"]}],
                   "retraining_courses", course_codes(checked), "course")
    if access is not None and isinstance(pack.data.get("access_policy"), dict):
        _check_provisioning_deadline(pack, access)
    if access:
        _check_access_numbers(pack, access)


def _check_provisioning_deadline(pack, access):
    """The deadline is in business days or in hours: the section names exactly
    one, and loading it empties the other (the policy row holds one)."""
    given = [key for key in DEADLINE_KEYS if key in pack.data["access_policy"]]
    if len(given) == 2:
        pack.error(("access_policy", "provisioning_hours"),
                   "give the provisioning deadline in business days or in hours, not both "
                   "(remove provisioning_business_days or provisioning_hours).")
    elif not given:
        pack.error(("access_policy",), "the provisioning deadline is missing: give provisioning_business_days "
                                       "(by the end of that business day) or provisioning_hours (clock hours).")
    elif given[0] in access:
        other = DEADLINE_KEYS[1 - DEADLINE_KEYS.index(given[0])]
        access[other] = None


def _check_access_numbers(pack, access):
    current = AccessPolicy.objects.filter(pk=1).first() or AccessPolicy()
    inactive = access.get("inactive_after_days", current.inactive_after_days)
    retraining = access.get("retraining_after_days", current.retraining_after_days)
    if inactive and retraining and retraining <= inactive:
        key = "retraining_after_days" if "retraining_after_days" in access else "inactive_after_days"
        pack.error(("access_policy", key), f"retraining ({retraining} days) must come later than going "
                                           f"Inactive ({inactive} days).")
    reminders = access.get("reminder_days_before", current.reminder_days_before if "inactive_after_days" in access
                           else None)
    if reminders and inactive:
        late = [int(p) for p in reminders.split(",") if p.strip().isdigit() and int(p) >= inactive]
        if late:
            pack.error(("access_policy", "reminder_days_before" if "reminder_days_before" in access
                        else "inactive_after_days"),
                       f"each reminder must come before the account goes Inactive ({inactive} days), not {late}.")


def apply(report, checked):
    update_policy(report, checked, "access_policy", label="access policy", policy=AccessPolicy.current(),
                  m2m=("retraining_courses",))


def re_evaluate(report, *, dry_run: bool) -> None:
    """Every in-flight access request against its checklist under the pack
    just written: a ready one whose checklist is now unmet goes back to
    gathering requirements, one now met becomes ready (each audited, as any
    re-evaluation); a dry run only lists what would change."""
    Status = AccessRequest.Status
    live = list(for_checklists(AccessRequest.objects.filter(status__in=[Status.OPEN, Status.READY]))
                .order_by("pk"))
    if not live:
        return
    changes = []
    for checklist in build_checklists(live, prefetched=True):
        request = checklist.request
        if checklist.ready == (request.status == Status.READY):
            continue
        after = Status.READY if checklist.ready else Status.OPEN
        line = (f"  #{request.pk} {request.user} ({request.organization}): {request.get_status_display().lower()} "
                f"→ {after.label.lower()}" + ("" if checklist.ready else f"; waiting on: {checklist.blocker_text}"))
        changes.append((request, line))
    report.add(None, f"In-flight access requests: {len(changes)} of {len(live)} "
                     f"{'would change' if dry_run else 'changed'}")
    for _, line in changes:
        report.add(None, line)
    report.changes += len(changes)
    if not dry_run and changes:
        access_requests_refresh(access_requests=[request.pk for request, _ in changes])
