"""Training's sections of a policy pack: courses, CES roles, the access
matrix and user forms (SPEC §3.6).

Checked and written by the loader (`hmis_portal/policy_pack.py`) with the
other apps' sections, in one transaction; the tools are the core's
(`hmis_portal/core/policy_pack.py`)."""

from hmis_portal.core.audit import record_event
from hmis_portal.core.policy_pack import (check_refs, check_rows, check_taken, choices, cycle, sync, where)
from onboarding.policy_pack import program_type_codes

from .models import APPROVAL, HMIS_GROUP_MAX, AccessCapability, CESRole, Course, RequiredForm, Signer

SECTIONS = ("courses", "ces_roles", "access_matrix", "required_forms")


def _check_signers(pack, path, value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        pack.error(path, f"must be a list of signers in order ({', '.join(Signer.values)}).")
        return None
    if not value:
        pack.error(path, "names no signer: list who signs, in order, or leave “signers” out so whoever "
                         "files the form signs it alone.")
        return None
    ok = True
    for index, role in enumerate(value):
        if role not in Signer.values:
            pack.error(path + (index,), f"unknown persona “{role}” (known: {', '.join(Signer.values)}).")
            ok = False
        elif role in value[:index]:
            pack.error(path + (index,), f"“{role}” signs once; it is named twice.")
            ok = False
    return value if ok else None


COURSE_FIELDS = {
    "code": {"type": "code", "required": True},
    "title": {"type": "text", "required": True},
    "hours": {"type": "hours", "default": None, "null": True},
    "delivery": {"type": "text", "default": Course.Delivery.CLASSROOM, **choices(Course.Delivery.choices)},
    # Where an online (self-paced) course is taken.
    "link": {"type": "link", "default": ""},
    "new_users_only": {"type": "bool", "default": False},
    "also_satisfies": {"type": "codes", "default": []},
    # The courses and forms it comes after, and "approval" (CoC staff approve the access request first).
    "waits_for": {"type": "codes", "default": []},
    "sort_order": {"type": "count0"},
}
ROLE_FIELDS = {
    "code": {"type": "code", "required": True},
    "name": {"type": "text", "required": True},
    "access_rank": {"type": "count", "required": True},
    "hmis_role": {"type": "text", "required": True},
    # The HMIS's group for the HMIS role (SCIM 2.0 group membership); left
    # out, the group is named as the HMIS role.
    "hmis_group": {"type": "text", "max": HMIS_GROUP_MAX},
    "any_program_type": {"type": "bool", "default": False},
    "program_types": {"type": "codes", "default": []},
    "required_courses": {"type": "codes", "default": []},
    "works_referrals": {"type": "bool", "default": True},
}
# Seed 000's access matrix, row by row: a capability in HMIS and the CES roles
# that have it. A person's HMIS role is the least access covering every
# capability of their roles (training.policy.role_from_matrix).
MATRIX_FIELDS = {
    "capability": {"type": "text", "required": True, "max": 150},
    "roles": {"type": "codes", "default": []},
}
FORM_FIELDS = {
    "code": {"type": "code", "required": True},
    "title": {"type": "text", "required": True},
    "description": {"type": "text", "default": "", "blank": True},
    "new_users_only": {"type": "bool", "default": False},
    "course": {"type": "code", "default": None, "null": True},
    # Seed 004: who files the form, who signs it in order, and how they sign.
    "filed_by": {"type": "text", "default": Signer.USER, **choices(Signer.choices)},
    "signers": {"type": "signers", "default": [], "check": _check_signers},
    "signing": {"type": "text", "default": RequiredForm.Signing.UPLOAD, **choices(RequiredForm.Signing.choices)},
    "attestation": {"type": "text", "default": "", "blank": True},
    "verify_portal_signatures": {"type": "bool", "default": True},
    "waits_for": {"type": "codes", "default": []},
    "sort_order": {"type": "count0"},
}


def course_codes(checked) -> set[str]:
    """The courses a pack's rows may name: its own, or (when it has no course
    section) the active ones. A later app's section asks this too."""
    courses = checked.get("courses")
    return ({row["code"] for row in courses} if courses is not None
            else set(Course.objects.filter(active=True).values_list("code", flat=True)))


def parse(pack, checked):
    checked["courses"] = check_rows(pack, "courses", COURSE_FIELDS, unique=("code", "title"), model=Course)
    checked["ces_roles"] = check_rows(pack, "ces_roles", ROLE_FIELDS, unique=("code", "name", "access_rank"),
                                       model=CESRole)
    checked["required_forms"] = check_rows(pack, "required_forms", FORM_FIELDS, unique=("code", "title"),
                                            model=RequiredForm)
    checked["access_matrix"] = check_rows(pack, "access_matrix", MATRIX_FIELDS, unique=("capability",),
                                           model=AccessCapability)


def check(pack, checked):
    courses, roles, forms = checked["courses"], checked["ces_roles"], checked["required_forms"]
    if checked["access_matrix"]:
        _check_matrix(pack, checked["access_matrix"])

    known_courses = course_codes(checked)
    if courses:
        check_refs(pack, courses, "also_satisfies", known_courses, "course")
        for row in courses:
            if row["code"] in row["also_satisfies"]:
                pack.error(row["_path"] + ("also_satisfies",), "a course cannot satisfy itself.")
    if roles:
        check_refs(pack, roles, "required_courses", known_courses, "course")
        _check_hmis_groups(pack, roles)
        check_refs(pack, roles, "program_types", program_type_codes(), "program type")
        for row in roles:
            if not row["any_program_type"] and not row["program_types"]:
                pack.error(row["_path"], "a role needs program types, or \"any_program_type\": true.")
    if forms:
        check_refs(pack, forms, "course", known_courses, "course (a form tied to a course the pack does not have)")
        _check_signing(pack, forms)
    if courses or forms:
        form_codes = ({row["code"] for row in forms} if forms is not None
                      else set(RequiredForm.objects.filter(active=True).values_list("code", flat=True)))
        _check_waits(pack, courses or [], forms or [], known_courses, form_codes)
    check_taken(pack, courses, Course, "title")
    check_taken(pack, roles, CESRole, "name")
    check_taken(pack, forms, RequiredForm, "title")


def _check_matrix(pack, matrix):
    """Each row names CES roles of the pack (or, without a roles section, the
    active ones). A role the pack writes with mistakes of its own is reported
    there, not again here."""
    written = pack.data.get("ces_roles")
    if written is None:
        known = set(CESRole.objects.filter(active=True).values_list("code", flat=True))
    elif isinstance(written, list):
        known = {row.get("code") for row in written if isinstance(row, dict)}
    else:
        return
    check_refs(pack, matrix, "roles", known, "CES role")


def _check_hmis_groups(pack, roles):
    """Each CES role's HMIS group (named as its HMIS role when the pack leaves
    it out); every role giving one HMIS role names the same group, so a
    granted user has exactly one group to be in."""
    first = {}
    for row in roles:
        if "hmis_group" not in row:
            row["hmis_group"] = row["hmis_role"]
        row["hmis_group"] = row["hmis_group"].strip()
        earlier = first.setdefault(row["hmis_role"], row)
        if earlier["hmis_group"] != row["hmis_group"]:
            pack.error(row["_path"] + ("hmis_group",),
                       f"{earlier['code']} ({where(earlier['_path'])}) already gives the HMIS role "
                       f"“{row['hmis_role']}” through the group “{earlier['hmis_group']}”, not "
                       f"“{row['hmis_group']}”: one HMIS role has one group.")


def _check_waits(pack, courses, forms, course_codes, form_codes):
    """Each item's `waits_for` names courses and forms the pack has, or
    "approval"; nothing waits for itself, and no items wait for each other."""
    rows = [*courses, *forms]
    both = course_codes & form_codes
    for row in rows:
        for index, code in enumerate(row["waits_for"]):
            path = row["_path"] + ("waits_for", index)
            if code in both:
                pack.error(path, f"“{code}” is both a course and a form: give one of them another code.")
            elif code not in course_codes | form_codes | {APPROVAL}:
                pack.error(path, f"unknown item “{code}” (the code of a course or form of the pack, or "
                                 f"“{APPROVAL}”).")
    for row in rows:
        if row["code"] in row["waits_for"]:
            pack.error(row["_path"] + ("waits_for", row["waits_for"].index(row["code"])),
                       f"“{row['code']}” cannot wait for itself.")
    found = cycle({row["code"]: [c for c in row["waits_for"] if c != row["code"]] for row in rows})
    if found:
        row = next(r for r in rows if r["code"] == found[0])
        pack.error(row["_path"] + ("waits_for",), "these items wait for each other: " + " → ".join(found)
                   + "; none of them could ever start.")


def _check_signing(pack, forms):
    for row in forms:
        path = row["_path"]
        if row["signers"] and row["signers"][0] != row["filed_by"]:
            pack.error(path + ("signers", 0), f"the first signer is whoever files the form (“{row['filed_by']}”), "
                                              f"not “{row['signers'][0]}”.")
        if row["signing"] != RequiredForm.Signing.UPLOAD and not row["attestation"].strip():
            pack.error(path + ("signing",), "signing in the portal needs the “attestation” each signer ticks.")


def apply(report, checked):
    sync(report, checked, "courses", label="courses", model=Course,
         scalar=["title", "hours", "delivery", "link", "new_users_only", "waits_for", "sort_order"],
         m2m=["also_satisfies"])
    sync(report, checked, "ces_roles", label="CES roles", model=CESRole,
         scalar=["name", "access_rank", "hmis_role", "hmis_group", "any_program_type", "works_referrals"],
         m2m=["program_types", "required_courses"], before_write=_make_room_for_ranks)
    _matrix(report, checked.get("access_matrix"))
    sync(report, checked, "required_forms", label="user forms", model=RequiredForm,
         scalar=["title", "description", "new_users_only", "filed_by", "signers", "signing", "attestation",
                 "verify_portal_signatures", "waits_for", "sort_order"], fks=["course"])


def _make_room_for_ranks(rows, retired):
    """access_rank is unique: a role outside the pack that holds a rank the
    pack wants, and a pack role whose rank moves, first step above every rank
    in use; the pack's ranks are then free to write."""
    wanted = {row["code"]: row["access_rank"] for row in rows}
    top = max([*wanted.values(), *CESRole.objects.values_list("access_rank", flat=True), 0])
    movers = [role for role in CESRole.objects.order_by("access_rank")
              if role.code not in wanted and role.access_rank in wanted.values()
              or role.code in wanted and role.access_rank != wanted[role.code]]
    for offset, role in enumerate(movers, start=1):
        role.access_rank = top + offset
        role.save(update_fields=["access_rank"])


def _matrix(report, rows):
    """The access matrix as the pack writes it: rows by capability name, in
    the pack's order; a row the pack leaves out is removed (nothing refers to
    a row; the roles keep their other capabilities)."""
    if rows is None:
        return
    existing = {row.name: row for row in AccessCapability.objects.prefetch_related("roles")}
    roles = {role.code: role for role in CESRole.objects.all()}
    added, changed, unchanged = [], [], 0
    for row in rows:
        obj = existing.pop(row["capability"], None)
        codes = sorted(row["roles"])
        if obj is not None and obj.sort_order == row["sort_order"] and sorted(r.code for r in obj.roles.all()) == codes:
            unchanged += 1
            continue
        created = obj is None
        obj, _ = AccessCapability.objects.update_or_create(name=row["capability"],
                                                           defaults={"sort_order": row["sort_order"]})
        obj.roles.set([roles[code] for code in codes])
        record_event(actor=None, subject=obj, verb="added from policy pack" if created else "changed by policy pack",
                     data={"roles": codes})
        (added if created else changed).append(row["capability"])
    removed = sorted(existing)
    for obj in existing.values():
        record_event(actor=None, subject=obj, verb="removed by policy pack",
                     data={"roles": sorted(r.code for r in obj.roles.all())})
        obj.delete()
    report.kind("access_matrix", "access matrix", added, changed, removed, unchanged, retired_as="removed")
