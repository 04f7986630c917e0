"""Policy packs: a CoC's whole process as one data file (SPEC §3.6).

A pack is a JSON file in `policy_packs/` (or anywhere, given by path) with the
CoC's courses, CES roles, user forms, need statuses and the numbers of its
access, onboarding, referral and data partnership policies. `load_policy` checks the whole pack
first and writes nothing when any of it is wrong, naming the file, the line
and the place in the pack of each mistake; then, in one transaction, it
updates or creates each row by its code and retires (never deletes) the rows
of that kind the pack does not name, so every record that points at them
keeps working. A section the pack leaves out leaves that kind of row alone.

This module sits in the composition root (`hmis_portal/`, outside the core),
the one place that may name every app, so it imports each app's policy
models directly and no app reaches another by name.

Need statuses: `allowed_next` must not contain a cycle. A referral that goes
back to matching ends (its status is final) and the client gets a new
referral, so no path through `allowed_next` ever needs to come back to a
status it left.
"""

import bisect
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Persona
from hmis_portal.core.audit import record_event
from onboarding.models import HUDProjectType, OnboardingPolicy, ProgramType, ReferralEvent
from training.models import APPROVAL, HMIS_GROUP_MAX, AccessCapability, CESRole, Course, RequiredForm, Signer

from hmis_access.models import MAX_PROVISIONING_HOURS, AccessPolicy, AccessRequest, validate_username_rule
from partnerships.models import PartnershipPolicy
from referrals.models import NeedStatus, ReferralPolicy

PACK_DIR = Path(settings.BASE_DIR) / "policy_packs"
NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
CODE = re.compile(r"[-a-zA-Z0-9_]+")


class PackError(Exception):
    def __init__(self, messages):
        super().__init__("\n".join(messages))
        self.messages = list(messages)


def resolve(name_or_file: str) -> Path:
    """A pack name (`la`) is a file in `policy_packs/`; anything else is a path."""
    if NAME.fullmatch(name_or_file):
        return PACK_DIR / f"{name_or_file}.json"
    return Path(name_or_file)


def available() -> list[str]:
    return sorted(p.stem for p in PACK_DIR.glob("*.json"))


# --- reading, with the line of every value ------------------------------------

_WS = re.compile(r"\s*")


def _lines_of(text: str) -> tuple[dict[tuple, int], list[tuple[tuple, int, int]]]:
    """The line of every key and array item of a JSON document that already
    parsed, by its path (a tuple of keys and indexes), and every key given
    twice in one object (its path, its line, the first one's line): JSON
    parsers keep the last copy silently."""
    newlines = [i for i, c in enumerate(text) if c == "\n"]
    decoder = json.JSONDecoder()
    lines: dict[tuple, int] = {}
    twice: list[tuple[tuple, int, int]] = []

    def line(i):
        return bisect.bisect_right(newlines, i - 1) + 1

    def skip(i):
        return _WS.match(text, i).end()

    def value(i, path):
        i = skip(i)
        lines.setdefault(path, line(i))
        if text[i] == "{":
            i = skip(i + 1)
            if text[i] == "}":
                return i + 1
            seen: dict[str, int] = {}
            while True:
                i = skip(i)
                key_line = line(i)
                key, i = json.decoder.scanstring(text, i + 1)
                if key in seen:
                    twice.append((path + (key,), key_line, seen[key]))
                seen.setdefault(key, key_line)
                lines[path + (key,)] = key_line
                i = skip(i) + 1  # the colon
                i = skip(value(i, path + (key,)))
                if text[i] == "}":
                    return i + 1
                i += 1  # the comma
        if text[i] == "[":
            i = skip(i + 1)
            if text[i] == "]":
                return i + 1
            index = 0
            while True:
                i = skip(value(i, path + (index,)))
                index += 1
                if text[i] == "]":
                    return i + 1
                i += 1
        _, end = decoder.raw_decode(text, i)
        return end

    value(0, ())
    return lines, twice


def _where(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(the pack)"


@dataclass
class Pack:
    path: Path
    data: dict
    lines: dict
    errors: list = field(default_factory=list)

    def error(self, path: tuple, message: str):
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        self.errors.append(f"{self.path}:{self.lines.get(probe, 1)}: {_where(path)}: {message}")


def read(name_or_file: str) -> Pack:
    path = resolve(name_or_file)
    if not path.is_file():
        known = ", ".join(available())
        raise PackError([f"{path}: no such policy pack (packs shipped: {known})."])
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PackError([f"{path}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})."]) from None
    if not isinstance(data, dict):
        raise PackError([f"{path}:1: a pack is a JSON object with sections (courses, ces_roles, ...)."])
    lines, twice = _lines_of(text)
    if twice:
        raise PackError([f"{path}:{at}: {_where(key)}: given twice (first on line {first}); keep one."
                         for key, at, first in twice])
    return Pack(path, data, lines)


# --- what a pack may say ----------------------------------------------------

def _choices(choices):
    return {"choices": [value for value, _ in choices]}


COURSE_FIELDS = {
    "code": {"type": "code", "required": True},
    "title": {"type": "text", "required": True},
    "hours": {"type": "hours", "default": None, "null": True},
    "delivery": {"type": "text", "default": Course.Delivery.CLASSROOM, **_choices(Course.Delivery.choices)},
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
# The HUD project type (HMIS Data Standards 2.02.6) of each program type the
# pack names, and its 4.20.2 referral event where the project type does not
# give it (left out: the one the project type gives). A code not yet in the
# database is a new program type, and then needs its name.
PROGRAM_TYPE_FIELDS = {
    "code": {"type": "code", "required": True},
    "name": {"type": "text", "max": ProgramType._meta.get_field("name").max_length},
    "description": {"type": "text", "blank": True},
    "hud_project_type": {"type": "count0", "required": True, "null": True, **_choices(HUDProjectType.choices)},
    "hud_referral_event": {"type": "count0", "default": None, "null": True, **_choices(ReferralEvent.choices),
                           "what": "a HUD 4.20.2 referral event: 10 to 18"},
}
FORM_FIELDS = {
    "code": {"type": "code", "required": True},
    "title": {"type": "text", "required": True},
    "description": {"type": "text", "default": "", "blank": True},
    "new_users_only": {"type": "bool", "default": False},
    "course": {"type": "code", "default": None, "null": True},
    # Seed 004: who files the form, who signs it in order, and how they sign.
    "filed_by": {"type": "text", "default": Signer.USER, **_choices(Signer.choices)},
    "signers": {"type": "signers", "default": []},
    "signing": {"type": "text", "default": RequiredForm.Signing.UPLOAD, **_choices(RequiredForm.Signing.choices)},
    "attestation": {"type": "text", "default": "", "blank": True},
    "verify_portal_signatures": {"type": "bool", "default": True},
    "waits_for": {"type": "codes", "default": []},
    "sort_order": {"type": "count0"},
}


def _status_fields():
    return {
        "code": {"type": "code", "required": True},
        "name": {"type": "text", "required": True},
        "description": {"type": "text", "default": "", "blank": True},
        "set_by": {"type": "text", "default": "provider", **_choices(NeedStatus.SetBy.choices)},
        "standard_days": {"type": "count", "default": None, "null": True},
        "day_kind": {"type": "text", "default": "business", **_choices(NeedStatus.DayKind.choices)},
        "counted_from": {"type": "text", "default": "status", **_choices(NeedStatus.CountedFrom.choices)},
        "is_initial": {"type": "bool", "default": False},
        "is_final": {"type": "bool", "default": False},
        "returns_to_matching": {"type": "bool", "default": False},
        "requires_reason": {"type": "bool", "default": False},
        "referral_result": {"type": "count", "default": None, "null": True,
                            **_choices(NeedStatus.ReferralResult.choices)},
        "allowed_next": {"type": "codes", "default": []},
        "no_response_status": {"type": "code", "default": None, "null": True},
        "sort_order": {"type": "count0"},
    }


# The numbers of the one-row policies a pack may set; a pack sets only those it names.
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
    "access_requesters": {"type": "personas"},
    "access_requests_need_approval": {"type": "bool"},
    # The HMIS username the grant form proposes.
    "hmis_username_rule": {"type": "username_rule"},
}
ONBOARDING_POLICY_FIELDS = {
    "agreement_term_months": {"type": "count", "null": True},
    "renewal_reminder_days": {"type": "daylist"},
    "status_list_public": {"type": "bool"},
}
REFERRAL_POLICY_FIELDS = {
    "escalation_margin_days": {"type": "count0"},
    "due_soon_days": {"type": "count0"},
    "sweep_batch_size": {"type": "count"},
    "timeliness_target_percent": {"type": "count", "max": 100},
}
# Seed 003: a data partner enters an agency's intakes within N business days.
PARTNERSHIP_POLICY_FIELDS = {
    "entry_business_days": {"type": "count", "max": 60},
    "escalation_margin_days": {"type": "count0", "max": 60},
    "sweep_batch_size": {"type": "count"},
}


def _check_value(pack, path, value, spec):
    """The value converted for the model, or None after recording an error."""
    kind = spec["type"]
    if value is None:
        if spec.get("null"):
            return None
        pack.error(path, "must not be empty.")
        return None
    if kind in ("text", "code"):
        if not isinstance(value, str) or (not value.strip() and not spec.get("blank")):
            pack.error(path, "must be a non-empty text." if kind == "text" else "must be a code (a text).")
            return None
        if "max" in spec and len(value) > spec["max"]:
            pack.error(path, f"is {len(value)} characters long; at most {spec['max']}.")
            return None
        if kind == "code" and not CODE.fullmatch(value):
            pack.error(path, f"“{value}” is not a code: use letters, digits and hyphens.")
            return None
    elif kind == "link":
        if (not isinstance(value, str) or not re.fullmatch(r"https://[^\s/]+\.[^\s/]+(/\S*)?", value)
                or len(value) > 300):
            pack.error(path, f"must be a web address starting with https:// (at most 300 characters), not {value!r}.")
            return None
    elif kind == "bool":
        if not isinstance(value, bool):
            pack.error(path, "must be true or false.")
            return None
    elif kind in ("count", "count0"):
        if isinstance(value, bool) or not isinstance(value, int):
            pack.error(path, "must be a whole number.")
            return None
        if value < 1 and kind == "count":
            pack.error(path, f"must be 1 or more, not {value}.")
            return None
        if value < 0:
            pack.error(path, f"must not be negative ({value}).")
            return None
        if value > spec.get("max", 32767):
            pack.error(path, f"{value} is too large (at most {spec['max']})." if "max" in spec
                       else f"{value} is too large.")
            return None
    elif kind == "hours":
        try:
            hours = Decimal(str(value)) if not isinstance(value, bool) else None
        except InvalidOperation:
            hours = None
        if hours is None or not hours.is_finite() or hours <= 0 or hours >= 1000 or hours != round(hours, 1):
            pack.error(path, f"must be a number of hours above 0 with at most one decimal, not {value!r}.")
            return None
        return hours
    elif kind == "codes":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            pack.error(path, "must be a list of codes.")
            return None
        if len(set(value)) != len(value):
            pack.error(path, "names a code twice.")
            return None
    elif kind == "signers":
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
        if not ok:
            return None
    elif kind == "personas":
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
    elif kind == "username_rule":
        try:
            validate_username_rule(value)
        except ValidationError as error:
            pack.error(path, " ".join(error.messages))
            return None
    elif kind == "daylist":
        parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else None
        if not parts or any(not p.isdigit() or int(p) < 1 for p in parts):
            pack.error(path, f"must be whole numbers of 1 or more separated by commas, like \"7,1\", not {value!r}.")
            return None
    if "choices" in spec and value not in spec["choices"]:
        pack.error(path, f"{value!r} is not {spec['what']}." if "what" in spec
                   else f"{value!r} is not one of {', '.join(map(repr, spec['choices']))}.")
        return None
    return value


def _check_rows(pack, section, fields, unique=("code",)) -> list[dict] | None:
    rows = pack.data.get(section)
    if rows is None:
        return None
    if not isinstance(rows, list):
        pack.error((section,), "must be a list.")
        return []
    checked, seen = [], {name: {} for name in unique}
    for index, row in enumerate(rows):
        path = (section, index)
        if not isinstance(row, dict):
            pack.error(path, "must be an object.")
            continue
        for key in row:
            if key not in fields:
                pack.error(path + (key,), f"unknown field “{key}” (known: {', '.join(fields)}).")
        values, ok = {}, True
        for name, spec in fields.items():
            if name not in row:
                if spec.get("required"):
                    pack.error(path, f"“{name}” is missing.")
                    ok = False
                elif "default" in spec:
                    values[name] = spec["default"]
                continue
            value = _check_value(pack, path + (name,), row[name], spec)
            if value is None and not (row[name] is None and spec.get("null")):
                ok = False
            values[name] = value
        values.setdefault("sort_order", index)
        for name in unique:
            if name in values and values[name] is not None:
                if values[name] in seen[name]:
                    pack.error(path + (name,), f"{values[name]!r} is also used by {section}[{seen[name][values[name]]}].")
                    ok = False
                seen[name][values[name]] = index
        if ok:
            values["_path"] = path
            checked.append(values)
    return checked


def _check_policy(pack, section, fields) -> dict | None:
    values = pack.data.get(section)
    if values is None:
        return None
    if not isinstance(values, dict):
        pack.error((section,), "must be an object.")
        return {}
    checked = {}
    for key, value in values.items():
        if key not in fields:
            pack.error((section, key), f"unknown field “{key}” (known: {', '.join(fields)}).")
            continue
        converted = _check_value(pack, (section, key), value, fields[key])
        if converted is not None or (value is None and fields[key].get("null")):
            checked[key] = converted
    return checked


def _refs(pack, rows, name, known, what):
    for row in rows:
        value = row.get(name)
        for index, code in enumerate(value if isinstance(value, list) else [value] if value else []):
            path = row["_path"] + ((name, index) if isinstance(value, list) else (name,))
            if code not in known:
                pack.error(path, f"unknown {what} “{code}”.")


def _cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in `graph`, as the codes along it, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


@dataclass
class Checked:
    courses: list | None
    roles: list | None
    forms: list | None
    statuses: list | None
    access_policy: dict | None
    onboarding_policy: dict | None
    referral_policy: dict | None
    partnership_policy: dict | None = None
    program_types: list | None = None
    access_matrix: list | None = None


SECTIONS = ("name", "description", "courses", "ces_roles", "access_matrix", "required_forms", "need_statuses",
            "access_policy", "onboarding_policy", "referral_policy", "partnership_policy", "program_types")


def check(pack: Pack) -> Checked:
    """Every mistake in the pack, before anything is written (PackError)."""
    for key in pack.data:
        if key not in SECTIONS:
            pack.error((key,), f"unknown section “{key}” (known: {', '.join(SECTIONS)}).")
    courses = _check_rows(pack, "courses", COURSE_FIELDS, unique=("code", "title"))
    roles = _check_rows(pack, "ces_roles", ROLE_FIELDS, unique=("code", "name", "access_rank"))
    forms = _check_rows(pack, "required_forms", FORM_FIELDS, unique=("code", "title"))
    statuses = _check_rows(pack, "need_statuses", _status_fields(), unique=("code", "name"))
    access = _check_policy(pack, "access_policy", ACCESS_POLICY_FIELDS)
    onboarding = _check_policy(pack, "onboarding_policy", ONBOARDING_POLICY_FIELDS)
    referral = _check_policy(pack, "referral_policy", REFERRAL_POLICY_FIELDS)
    partnership = _check_policy(pack, "partnership_policy", PARTNERSHIP_POLICY_FIELDS)
    program_types = _check_rows(pack, "program_types", PROGRAM_TYPE_FIELDS, unique=("code", "name"))
    matrix = _check_rows(pack, "access_matrix", MATRIX_FIELDS, unique=("capability",))
    if matrix:
        _check_matrix(pack, matrix)
    if program_types:
        _check_program_types(pack, program_types)

    # Courses a pack may refer to: its own, or (when it has no course section) the active ones.
    course_codes = ({row["code"] for row in courses} if courses is not None
                    else set(Course.objects.filter(active=True).values_list("code", flat=True)))
    if courses:
        _refs(pack, courses, "also_satisfies", course_codes, "course")
        for row in courses:
            if row["code"] in row["also_satisfies"]:
                pack.error(row["_path"] + ("also_satisfies",), "a course cannot satisfy itself.")
    if roles:
        _refs(pack, roles, "required_courses", course_codes, "course")
        _check_hmis_groups(pack, roles)
        _refs(pack, roles, "program_types", set(ProgramType.objects.values_list("code", flat=True)), "program type")
        for row in roles:
            if not row["any_program_type"] and not row["program_types"]:
                pack.error(row["_path"], "a role needs program types, or \"any_program_type\": true.")
    if forms:
        _refs(pack, forms, "course", course_codes, "course (a form tied to a course the pack does not have)")
        _check_signing(pack, forms)
    if courses or forms:
        form_codes = ({row["code"] for row in forms} if forms is not None
                      else set(RequiredForm.objects.filter(active=True).values_list("code", flat=True)))
        _check_waits(pack, courses or [], forms or [], course_codes, form_codes)
    if access and "retraining_courses" in access:
        _refs(pack, [{"_path": ("access_policy",), "retraining_courses": access["retraining_courses"]}],
              "retraining_courses", course_codes, "course")
    if statuses is not None:
        _check_statuses(pack, statuses)
    if access is not None and isinstance(pack.data.get("access_policy"), dict):
        _check_provisioning_deadline(pack, access)
    if access:
        _check_access_numbers(pack, access)
    for rows, model, unique in ((courses, Course, "title"), (roles, CESRole, "name"), (forms, RequiredForm, "title"),
                                (statuses, NeedStatus, "name")):
        for row in rows or ():
            other = model.objects.filter(**{unique: row[unique]}).exclude(code=row["code"]).first()
            if other is not None:
                pack.error(row["_path"] + (unique,), f"“{row[unique]}” is already the {unique} of "
                                                     f"{model._meta.verbose_name} “{other.code}”; give it that code "
                                                     f"or another {unique}.")
    if pack.errors:
        raise PackError(pack.errors)
    return Checked(courses, roles, forms, statuses, access, onboarding, referral, partnership, program_types, matrix)


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
    _refs(pack, matrix, "roles", known, "CES role")


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
                       f"{earlier['code']} ({_where(earlier['_path'])}) already gives the HMIS role "
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
    cycle = _cycle({row["code"]: [c for c in row["waits_for"] if c != row["code"]] for row in rows})
    if cycle:
        row = next(r for r in rows if r["code"] == cycle[0])
        pack.error(row["_path"] + ("waits_for",), "these items wait for each other: " + " → ".join(cycle)
                   + "; none of them could ever start.")


def _check_signing(pack, forms):
    for row in forms:
        path = row["_path"]
        if row["signers"] and row["signers"][0] != row["filed_by"]:
            pack.error(path + ("signers", 0), f"the first signer is whoever files the form (“{row['filed_by']}”), "
                                              f"not “{row['signers'][0]}”.")
        if row["signing"] != RequiredForm.Signing.UPLOAD and not row["attestation"].strip():
            pack.error(path + ("signing",), "signing in the portal needs the “attestation” each signer ticks.")


def _check_statuses(pack, statuses):
    codes = {row["code"] for row in statuses}
    _refs(pack, statuses, "allowed_next", codes, "need status")
    _refs(pack, statuses, "no_response_status", codes, "need status")
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
    cycle = _cycle({row["code"]: [c for c in row["allowed_next"] if c != row["code"] and c in codes]
                    for row in statuses})
    if cycle:
        row = next(r for r in statuses if r["code"] == cycle[0])
        pack.error(row["_path"] + ("allowed_next",),
                   "these statuses lead back to each other: " + " → ".join(cycle)
                   + ". A referral only moves forward; to try again it returns to matching.")


DEADLINE_KEYS = ("provisioning_business_days", "provisioning_hours")


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


# --- loading ------------------------------------------------------------------

@dataclass
class Report:
    lines: list = field(default_factory=list)
    changes: int = 0

    def kind(self, label, added, changed, retired, unchanged):
        self.changes += len(added) + len(changed) + len(retired)
        self.lines.append(f"{label}: {len(added)} added, {len(changed)} changed, {len(retired)} retired, "
                          f"{unchanged} unchanged")
        for verb, items in (("added", added), ("changed", changed), ("retired", retired)):
            for item in items:
                self.lines.append(f"  {verb}: {item}")


def _codes(manager):
    return sorted(manager.values_list("code", flat=True))


def _sync(report, label, model, rows, scalar, m2m=(), fks=(), before_write=None):
    """Update or create each row by code, then retire the rest. `m2m` and
    `fks` are (field, model) pairs resolved by code after every row exists."""
    if rows is None:
        return {}
    existing = {obj.code: obj for obj in model.objects.all()}
    added, changed, unchanged = [], [], 0
    plans = []
    for row in rows:
        defaults = {name: row[name] for name in scalar if name in row}
        defaults["active"] = True
        obj = existing.get(row["code"])
        differs = [name for name, value in defaults.items() if obj is None or getattr(obj, name) != value]
        if obj is not None:
            differs += [name for name, _ in m2m if _codes(getattr(obj, name)) != sorted(row[name])]
            differs += [name for name, _ in fks
                        if (getattr(obj, name).code if getattr(obj, f"{name}_id") else None) != row[name]]
        plans.append((row, defaults, obj, differs))
    retired = [obj for code, obj in existing.items() if obj.active and code not in {r["code"] for r in rows}]
    if before_write:
        before_write(rows, retired)
    objs = {}
    for row, defaults, obj, differs in plans:
        if obj is None or differs:
            objs[row["code"]], created = model.objects.update_or_create(code=row["code"], defaults=defaults)
            verb = "added from policy pack" if created else "changed by policy pack"
            record_event(actor=None, subject=objs[row["code"]], verb=verb, data={"fields": differs})
            (added if created else changed).append(row["code"] if created else f"{row['code']} ({', '.join(differs)})")
        else:
            objs[row["code"]] = obj
            unchanged += 1
    for obj in retired:
        obj.active = False
        obj.save(update_fields=["active"])
        record_event(actor=None, subject=obj, verb="retired by policy pack", from_state="active", to_state="retired")
    everything = {obj.code: obj for obj in model.objects.all()}
    for row, _, _, _ in plans:
        obj = objs[row["code"]]
        for name, target in m2m:
            getattr(obj, name).set([_target(target, code, everything) for code in row[name]])
        for name, target in fks:
            value = _target(target, row[name], everything) if row[name] else None
            if getattr(obj, f"{name}_id") != (value.pk if value else None):
                setattr(obj, name, value)
                obj.save(update_fields=[name])
    report.kind(label, added, changed, [obj.code for obj in retired], unchanged)
    return objs


def _target(model, code, own):
    if model is None:
        return own[code]
    return model.objects.get(code=code)


def _policy(report, label, policy, values, m2m=()):
    if values is None:
        return
    changed, fields = [], []
    for name, value in values.items():
        if name in m2m:
            if _codes(getattr(policy, name)) != sorted(value):
                getattr(policy, name).set(Course.objects.filter(code__in=value))
                changed.append(f"{name} → {', '.join(value) or 'none'}")
        elif getattr(policy, name) != value:
            changed.append(f"{name} {getattr(policy, name)} → {value}")
            setattr(policy, name, value)
            fields.append(name)
    if fields:
        policy.save(update_fields=fields)
    if changed:
        record_event(actor=None, subject=policy, verb="changed by policy pack", data={"changes": changed})
        report.changes += len(changed)
        report.lines.append(f"{label}: changed " + "; ".join(changed))
    else:
        report.lines.append(f"{label}: unchanged")


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
    report.changes += len(added) + len(changed) + len(removed)
    report.lines.append(f"access matrix: {len(added)} added, {len(changed)} changed, {len(removed)} removed, "
                        f"{unchanged} unchanged")
    for verb, items in (("added", added), ("changed", changed), ("removed", removed)):
        report.lines.extend(f"  {verb}: {item}" for item in items)


def _one_initial(rows, retired):
    initial = next(row["code"] for row in rows if row["is_initial"])
    NeedStatus.objects.filter(is_initial=True).exclude(code=initial).update(is_initial=False)


PROGRAM_TYPE_SCALARS = ("name", "description", "hud_project_type", "hud_referral_event")


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
    report.lines.append("program types: " + ("; ".join(changed) if changed else "unchanged"))


def _re_evaluate(report, *, dry_run: bool) -> None:
    """Every in-flight access request against its checklist under the pack
    just written: a ready one whose checklist is now unmet goes back to
    gathering requirements, one now met becomes ready (each audited, as any
    re-evaluation); a dry run only lists what would change."""
    from hmis_access.checklist import build_checklists, for_checklists
    from hmis_access.services import access_request_refresh

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
    report.lines.append(f"In-flight access requests: {len(changes)} of {len(live)} "
                        f"{'would change' if dry_run else 'changed'}")
    report.lines.extend(line for _, line in changes)
    report.changes += len(changes)
    if not dry_run:
        for request, _ in changes:
            access_request_refresh(access_request=request)


def load(name_or_file: str, *, dry_run: bool = False) -> Report:
    """Check the pack, then load it in one transaction (rolled back on a dry run)."""
    pack = read(name_or_file)
    checked = check(pack)
    report = Report()
    try:
        with transaction.atomic():
            _sync(report, "courses", Course, checked.courses,
                  ["title", "hours", "delivery", "link", "new_users_only", "waits_for", "sort_order"], m2m=[("also_satisfies", None)])
            _sync(report, "CES roles", CESRole, checked.roles,
                  ["name", "access_rank", "hmis_role", "hmis_group", "any_program_type", "works_referrals"],
                  m2m=[("program_types", ProgramType), ("required_courses", Course)],
                  before_write=_make_room_for_ranks)
            _matrix(report, checked.access_matrix)
            _sync(report, "user forms", RequiredForm, checked.forms,
                  ["title", "description", "new_users_only", "filed_by", "signers", "signing", "attestation",
                   "verify_portal_signatures", "waits_for", "sort_order"], fks=[("course", Course)])
            _sync(report, "need statuses", NeedStatus, checked.statuses,
                  ["name", "description", "set_by", "standard_days", "day_kind", "counted_from", "is_initial",
                   "is_final", "returns_to_matching", "requires_reason", "referral_result", "sort_order"],
                  m2m=[("allowed_next", None)], fks=[("no_response_status", None)], before_write=_one_initial)
            _policy(report, "access policy", AccessPolicy.current(), checked.access_policy,
                    m2m=("retraining_courses",))
            _policy(report, "onboarding policy", OnboardingPolicy.current(), checked.onboarding_policy)
            _policy(report, "referral policy", ReferralPolicy.current(), checked.referral_policy)
            _policy(report, "data partnership policy", PartnershipPolicy.current(), checked.partnership_policy)
            _program_types(report, checked.program_types)
            _re_evaluate(report, dry_run=dry_run)
            if dry_run:
                transaction.set_rollback(True)
    except IntegrityError as error:
        raise PackError([f"{pack.path}: the pack clashes with rows in the database: {error}"]) from None
    report.lines.append("Nothing changed." if not report.changes else
                        f"{report.changes} change{'s' if report.changes != 1 else ''}.")
    if dry_run:
        report.lines.append("Dry run: nothing was saved.")
    return report
