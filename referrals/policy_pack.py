"""Referrals' sections of a policy pack: the need statuses and the numbers
of the referral policy (SPEC §3.6).

Need statuses: `allowed_next` must not contain a cycle. A referral that goes
back to matching ends (its status is final) and the client gets a new
referral, so no path through `allowed_next` ever needs to come back to a
status it left.

Checked and written by the loader (`hmis_portal/policy_pack.py`) with the
other apps' sections, in one transaction; the tools are the core's
(`hmis_portal/core/policy_pack.py`)."""

from hmis_portal.core.policy_pack import (check_policy, check_refs, check_rows, check_taken, choices, cycle, sync,
                                         update_policy)

from .models import NeedStatus, ReferralPolicy

SECTIONS = ("need_statuses", "referral_policy")


def _status_fields():
    """A fresh copy for each check (its lists of defaults are each row's own)."""
    return {
        "code": {"type": "code", "required": True},
        "name": {"type": "text", "required": True},
        "description": {"type": "text", "default": "", "blank": True},
        "set_by": {"type": "text", "default": "provider", **choices(NeedStatus.SetBy.choices)},
        "standard_days": {"type": "count", "default": None, "null": True},
        "day_kind": {"type": "text", "default": "business", **choices(NeedStatus.DayKind.choices)},
        "counted_from": {"type": "text", "default": "status", **choices(NeedStatus.CountedFrom.choices)},
        "is_initial": {"type": "bool", "default": False},
        "is_final": {"type": "bool", "default": False},
        "returns_to_matching": {"type": "bool", "default": False},
        "requires_reason": {"type": "bool", "default": False},
        "referral_result": {"type": "count", "default": None, "null": True,
                            **choices(NeedStatus.ReferralResult.choices)},
        "allowed_next": {"type": "codes", "default": []},
        "no_response_status": {"type": "code", "default": None, "null": True},
        "sort_order": {"type": "count0"},
    }


REFERRAL_POLICY_FIELDS = {
    "escalation_margin_days": {"type": "count0"},
    "due_soon_days": {"type": "count0"},
    "sweep_batch_size": {"type": "count"},
    "timeliness_target_percent": {"type": "count", "max": 100},
}


def parse(pack, checked):
    checked["need_statuses"] = check_rows(pack, "need_statuses", _status_fields(), unique=("code", "name"),
                                           model=NeedStatus)
    checked["referral_policy"] = check_policy(pack, "referral_policy", REFERRAL_POLICY_FIELDS, model=ReferralPolicy)


def check(pack, checked):
    statuses = checked["need_statuses"]
    if statuses is not None:
        _check_statuses(pack, statuses)
    check_taken(pack, statuses, NeedStatus, "name")


def _check_statuses(pack, statuses):
    codes = {row["code"] for row in statuses}
    check_refs(pack, statuses, "allowed_next", codes, "need status")
    check_refs(pack, statuses, "no_response_status", codes, "need status")
    initial = [row for row in statuses if row["is_initial"]]
    if statuses and len(initial) != 1:
        pack.error(("need_statuses",), f"exactly one need status must be initial, not {len(initial)}.")
    for row in statuses:
        path = row["_path"]
        if row["code"] in row["allowed_next"]:
            pack.error(path + ("allowed_next", row["allowed_next"].index(row["code"])),
                       f"“{row['code']}” lists itself as allowed next.")
        if row["no_response_status"] == row["code"]:
            pack.error(path + ("no_response_status",), "a status cannot move to itself when nobody responds.")
        if row["is_final"]:
            if row["is_initial"]:
                pack.error(path + ("is_final",), "the initial status cannot be final.")
            if row["referral_result"] is None:
                pack.error(path, "a final status needs its HUD 4.20.D referral_result (1, 2 or 3).")
            if row["standard_days"] is not None:
                pack.error(path + ("standard_days",), "a final status has no timeliness standard.")
            if row["allowed_next"]:
                pack.error(path + ("allowed_next",), "a final status closes the referral: nothing comes next.")
        if row["returns_to_matching"] and not row["is_final"]:
            pack.error(path + ("returns_to_matching",), "a status that returns the client to matching is final.")
    found = cycle({row["code"]: [c for c in row["allowed_next"] if c != row["code"] and c in codes]
                   for row in statuses})
    if found:
        row = next(r for r in statuses if r["code"] == found[0])
        pack.error(row["_path"] + ("allowed_next",),
                   "these statuses lead back to each other: " + " → ".join(found)
                   + ". A referral only moves forward; to try again it returns to matching.")


def apply(report, checked):
    sync(report, checked, "need_statuses", label="need statuses", model=NeedStatus,
         scalar=["name", "description", "set_by", "standard_days", "day_kind", "counted_from", "is_initial",
                 "is_final", "returns_to_matching", "requires_reason", "referral_result", "sort_order"],
         m2m=["allowed_next"], fks=["no_response_status"], before_write=_one_initial)
    update_policy(report, checked, "referral_policy", label="referral policy", policy=ReferralPolicy.current())


def _one_initial(rows, retired):
    initial = next(row["code"] for row in rows if row["is_initial"])
    NeedStatus.objects.filter(is_initial=True).exclude(code=initial).update(is_initial=False)
