"""Onboarding's sections of a policy pack: the numbers of the onboarding
policy, and the program types with their HUD project type (SPEC §3.6).

Checked and written by the loader (`hmis_portal/policy_pack.py`) with the
other apps' sections, in one transaction; the tools are the core's
(`hmis_portal/core/policy_pack.py`)."""

from hmis_portal.core.audit import record_event
from hmis_portal.core.policy_pack import check_policy, check_rows, choices, update_policy

from .models import HUDProjectType, OnboardingPolicy, ProgramType, ReferralEvent

SECTIONS = ("onboarding_policy", "program_types")

ONBOARDING_POLICY_FIELDS = {
    "agreement_term_months": {"type": "count", "null": True},
    "renewal_reminder_days": {"type": "daylist"},
    "status_list_public": {"type": "bool"},
}
# The HUD project type (HMIS Data Standards 2.02.6) of each program type the
# pack names, and its 4.20.2 referral event where the project type does not
# give it (left out: the one the project type gives). A code not yet in the
# database is a new program type, and then needs its name.
PROGRAM_TYPE_FIELDS = {
    "code": {"type": "code", "required": True},
    "name": {"type": "text", "max": ProgramType._meta.get_field("name").max_length},
    "description": {"type": "text", "blank": True},
    "hud_project_type": {"type": "count0", "required": True, "null": True, **choices(HUDProjectType.choices)},
    "hud_referral_event": {"type": "count0", "default": None, "null": True, **choices(ReferralEvent.choices),
                           "what": "a HUD 4.20.2 referral event: 10 to 18"},
}
PROGRAM_TYPE_SCALARS = ("name", "description", "hud_project_type", "hud_referral_event")


def program_type_codes() -> set[str]:
    """The program types a later section may name (a CES role's): those in the database."""
    return set(ProgramType.objects.values_list("code", flat=True))


def parse(pack, checked):
    checked["onboarding_policy"] = check_policy(pack, "onboarding_policy", ONBOARDING_POLICY_FIELDS,
                                                 model=OnboardingPolicy)
    checked["program_types"] = check_rows(pack, "program_types", PROGRAM_TYPE_FIELDS, unique=("code", "name"),
                                           model=ProgramType)


def check(pack, checked):
    if checked["program_types"]:
        _check_program_types(pack, checked["program_types"])


def _check_program_types(pack, rows):
    """A code the database does not have is a new program type: it needs its
    name, and no other program type may hold that name."""
    names = dict(ProgramType.objects.values_list("code", "name"))
    for row in rows:
        if row["code"] not in names and not row.get("name"):
            pack.error(row["_path"] + ("code",), f"unknown program type “{row['code']}”: give its “name” to add it.")
        if row.get("name"):
            other = next((code for code, name in names.items() if name == row["name"] and code != row["code"]), None)
            if other is not None:
                pack.error(row["_path"] + ("name",), f"“{row['name']}” is already the name of program type "
                                                     f"“{other}”; give it that code or another name.")


def apply(report, checked):
    update_policy(report, checked, "onboarding_policy", label="onboarding policy", policy=OnboardingPolicy.current())
    _program_types(report, checked.get("program_types"))


def _program_types(report, rows):
    """Add the program types the pack names that the database lacks, and set
    the name, description, HUD project type and referral event of the others
    (a name or description the pack leaves out stays; a pack never retires a
    program type: agencies' programs are of it)."""
    if rows is None:
        return
    existing = {program_type.code: program_type for program_type in ProgramType.objects.all()}
    top = max((program_type.sort_order for program_type in existing.values()), default=-1)
    changed = []
    for row in rows:
        values = {name: row[name] for name in PROGRAM_TYPE_SCALARS if name in row}
        program_type = existing.get(row["code"])
        if program_type is None:
            top += 1
            program_type = ProgramType.objects.create(code=row["code"], sort_order=top, **values)
            changed.append(f"{row['code']} added")
            record_event(actor=None, subject=program_type, verb="added from policy pack",
                         data={"fields": sorted(values)})
            continue
        differs = [name for name, value in values.items() if getattr(program_type, name) != value]
        if differs:
            changed.append(f"{row['code']} " + ", ".join(f"{name} {getattr(program_type, name)} → {values[name]}"
                                                         for name in differs))
            for name in differs:
                setattr(program_type, name, values[name])
            program_type.save(update_fields=differs)
            record_event(actor=None, subject=program_type, verb="changed by policy pack", data={"fields": differs})
    report.changes += len(changed)
    report.add("program_types", "program types: " + ("; ".join(changed) if changed else "unchanged"))
