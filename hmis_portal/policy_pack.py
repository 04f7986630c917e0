"""Policy packs: a CoC's whole process as one data file (SPEC §3.6).

A pack is a JSON file in `policy_packs/` (or anywhere, given by path) with the
CoC's courses, CES roles, user forms, need statuses and the numbers of its
access, onboarding, referral and data partnership policies. `load_policy` checks the whole pack
first and writes nothing when any of it is wrong, naming the file, the line
and the place in the pack of each mistake; then, in one transaction, it
updates or creates each row by its code and retires (never deletes) the rows
of that kind the pack does not name, so every record that points at them
keeps working. A section the pack leaves out leaves that kind of row alone.

Each app reads, checks and writes its own sections, from its own models, in
`<app>/policy_pack.py`, with the core's tools (`hmis_portal/core/policy_pack.py`).
This module, in the composition root (the one place that may name every app),
reads the file and calls them: `SECTIONS_BY_APP` lists them in the layers'
order (pyproject's import-linter contract, lowest first), so an app's rows
may name the rows of the apps below it, already written. All of it runs in one
transaction: a section that fails leaves every other section unwritten too.
"""

import bisect
import json
import re
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from hmis_access import policy_pack as hmis_access_pack
from hmis_portal.core.policy_pack import Pack, PackError, Report, where
from onboarding import policy_pack as onboarding_pack
from partnerships import policy_pack as partnerships_pack
from referrals import policy_pack as referrals_pack
from training import policy_pack as training_pack

PACK_DIR = Path(settings.BASE_DIR) / "policy_packs"
NAME = re.compile(r"[a-z0-9][a-z0-9-]*")

# Each app's sections, in the layers' order, lowest first: a row may name rows
# of a lower app (the access policy its retraining courses, which may be new in
# the same pack), and those are written before it.
SECTIONS_BY_APP = (onboarding_pack, training_pack, hmis_access_pack, referrals_pack, partnerships_pack)

# A pack's sections, in the order a pack is written and a load reports them
# (and its mistakes), whichever app writes them.
SECTIONS = ("name", "description", "courses", "ces_roles", "access_matrix", "required_forms", "need_statuses",
            "access_policy", "onboarding_policy", "referral_policy", "partnership_policy", "program_types")

_owners = [key for app in SECTIONS_BY_APP for key in app.SECTIONS]
if sorted(_owners) != sorted(SECTIONS[2:]):
    raise ImproperlyConfigured(f"Each section of a policy pack needs exactly one app: {sorted(SECTIONS[2:])} "
                               f"against {sorted(_owners)}.")


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
        raise PackError([f"{path}:{at}: {where(key)}: given twice (first on line {first}); keep one."
                         for key, at, first in twice])
    return Pack(path, data, lines)


# --- checking and loading -------------------------------------------------------

def check(pack: Pack) -> dict:
    """Every mistake in the pack, before anything is written (PackError).
    First each app reads its sections, each value against its field; those
    mistakes are listed section by section in the order a pack is written.
    Then each app checks what its rows say (the rows they name, the rules of
    its policy, clashes with the database), lowest layer first, as a higher
    app's rows may name a lower one's. Returns each section's checked rows or
    numbers (None: the pack leaves the section out)."""
    for key in pack.data:
        if key not in SECTIONS:
            pack.error((key,), f"unknown section “{key}” (known: {', '.join(SECTIONS)}).")
    checked: dict = {}
    start = len(pack.errors)
    for app in SECTIONS_BY_APP:
        app.parse(pack, checked)
    rank = {key: index for index, key in enumerate(SECTIONS)}
    order = sorted(range(start, len(pack.errors)), key=lambda i: rank[pack.error_sections[i]])
    pack.errors[start:] = [pack.errors[i] for i in order]
    pack.error_sections[start:] = [pack.error_sections[i] for i in order]
    for app in SECTIONS_BY_APP:
        app.check(pack, checked)
    if pack.errors:
        raise PackError(pack.errors)
    return checked


def load(name_or_file: str, *, dry_run: bool = False) -> Report:
    """Check the pack, then load it in one transaction (rolled back on a dry run)."""
    pack = read(name_or_file)
    checked = check(pack)
    report = Report(order=SECTIONS)
    try:
        with transaction.atomic():
            for app in SECTIONS_BY_APP:
                app.apply(report, checked)
            # The requests in flight, against every section just written.
            hmis_access_pack.re_evaluate(report, dry_run=dry_run)
            if dry_run:
                transaction.set_rollback(True)
    except IntegrityError as error:
        raise PackError([f"{pack.path}: the pack clashes with rows in the database: {error}"]) from None
    report.add(None, "Nothing changed." if not report.changes else
               f"{report.changes} change{'s' if report.changes != 1 else ''}.")
    if dry_run:
        report.add(None, "Dry run: nothing was saved.")
    return report
