"""What every app's section of a policy pack is made with (SPEC §3.6).

A pack is one JSON file; each app reads, checks and writes its own sections
of it in `<app>/policy_pack.py`, and the composition root
(`hmis_portal/policy_pack.py`) reads the file and calls them, lowest layer
first, in one transaction. This module is the shared part they all use and
that names no app: the pack as read (with the line of every value, for
errors), the checks of a value, a list of rows or a one-row policy against
its fields, and the writes — update or create each row by its code, retire
(never delete) the rest — with the report a dry run prints.

An app's section module offers:

    SECTIONS = ("courses", ...)      # the top-level keys of a pack it owns
    def parse(pack, checked): ...    # each value against its field: checked[key] = its rows (None: not in the pack)
    def check(pack, checked): ...    # what its rows say: the rows they name, its policy's rules, the database
    def apply(report, checked): ...  # write its rows (inside the loader's transaction)

Mistakes are recorded with `pack.error(path, message)`, never raised, so a
person sees every mistake of the pack at once.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from hmis_portal.core.audit import record_event

CODE = re.compile(r"[-a-zA-Z0-9_]+")


class PackError(Exception):
    def __init__(self, messages):
        super().__init__("\n".join(messages))
        self.messages = list(messages)


def where(path: tuple) -> str:
    """A place in a pack as a person reads it: `ces_roles[0].required_courses[1]`."""
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
    # The section (top-level key) of each error, in step with `errors`: the
    # loader lists a pack's mistakes section by section.
    error_sections: list = field(default_factory=list)

    def error(self, path: tuple, message: str):
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        self.errors.append(f"{self.path}:{self.lines.get(probe, 1)}: {where(path)}: {message}")
        self.error_sections.append(path[0] if path else None)


# --- what a pack may say --------------------------------------------------------------------------

def choices(pairs):
    return {"choices": [value for value, _ in pairs]}


def check_value(pack, path, value, spec):
    """The value converted for the model, or None after recording an error.
    A field of a kind only one app knows (a persona, a signer, a username
    rule) gives its own `check(pack, path, value)` in its spec."""
    kind = spec["type"]
    if value is None:
        if spec.get("null"):
            return None
        pack.error(path, "must not be empty.")
        return None
    if "check" in spec:
        return spec["check"](pack, path, value)
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


def bounded(fields: dict, model) -> dict:
    """`fields` with each text or code that `model` stores in a column of a
    fixed length given that length as its "max", so a value too long is a
    mistake named with its line, not a database error after the checks."""
    from django.core.exceptions import FieldDoesNotExist

    if model is None:
        return fields
    out = {}
    for name, spec in fields.items():
        try:
            length = model._meta.get_field(name).max_length
        except FieldDoesNotExist:
            length = None
        out[name] = ({**spec, "max": length} if spec["type"] in ("text", "code") and length and "max" not in spec
                     else spec)
    return out


def check_rows(pack, section, fields, unique=("code",), *, model=None) -> list[dict] | None:
    """The section's rows, each checked against `fields` (None: the pack has
    no such section), within the column lengths of `model` (the rows' model).
    A row with a mistake is left out, its mistakes recorded."""
    fields = bounded(fields, model)
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
            value = check_value(pack, path + (name,), row[name], spec)
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


def check_policy(pack, section, fields, *, model=None) -> dict | None:
    """The values of a one-row policy (`model`) the section sets (None: the
    pack has no such section), within its column lengths."""
    fields = bounded(fields, model)
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
        converted = check_value(pack, (section, key), value, fields[key])
        if converted is not None or (value is None and fields[key].get("null")):
            checked[key] = converted
    return checked


def check_refs(pack, rows, name, known, what):
    """Each code the rows' field `name` gives is one of `known`."""
    for row in rows:
        value = row.get(name)
        for index, code in enumerate(value if isinstance(value, list) else [value] if value else []):
            path = row["_path"] + ((name, index) if isinstance(value, list) else (name,))
            if code not in known:
                pack.error(path, f"unknown {what} “{code}”.")


def check_taken(pack, rows, model, unique):
    """A row's `unique` field (a title or a name) held by another code's row in
    the database, retired or not, would clash when written."""
    for row in rows or ():
        other = model.objects.filter(**{unique: row[unique]}).exclude(code=row["code"]).first()
        if other is not None:
            pack.error(row["_path"] + (unique,), f"“{row[unique]}” is already the {unique} of "
                                                 f"{model._meta.verbose_name} “{other.code}”; give it that code "
                                                 f"or another {unique}.")


def cycle(graph: dict[str, list[str]]) -> list[str] | None:
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


# --- writing, and the report ----------------------------------------------------------------------

@dataclass
class Report:
    """What a load changed, by section: the sections are written lowest layer
    first, and reported in the order a pack lists them (`order`); lines of no
    section (what followed the writes) come after them."""

    order: tuple = ()
    sections: dict = field(default_factory=dict)
    after: list = field(default_factory=list)
    changes: int = 0

    def add(self, section, line):
        (self.sections.setdefault(section, []) if section else self.after).append(line)

    @property
    def lines(self) -> list[str]:
        keys = [*self.order, *(key for key in self.sections if key not in self.order)]
        return [line for key in keys for line in self.sections.get(key, ())] + self.after

    def kind(self, section, label, added, changed, retired, unchanged, *, retired_as="retired"):
        self.changes += len(added) + len(changed) + len(retired)
        self.add(section, f"{label}: {len(added)} added, {len(changed)} changed, {len(retired)} {retired_as}, "
                          f"{unchanged} unchanged")
        for verb, items in (("added", added), ("changed", changed), (retired_as, retired)):
            for item in items:
                self.add(section, f"  {verb}: {item}")


def codes(manager):
    return sorted(manager.values_list("code", flat=True))


def sync(report, checked, section, *, label, model, scalar, m2m=(), fks=(), before_write=None):
    """Update or create each row of the section by code, then retire the
    rest. `m2m` and `fks` are fields naming other rows by code, resolved
    after every row exists (a row may name another of its own section)."""
    rows = checked.get(section)
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
            differs += [name for name in m2m if codes(getattr(obj, name)) != sorted(row[name])]
            differs += [name for name in fks
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
        for name in m2m:
            getattr(obj, name).set([_target(model, name, code, everything) for code in row[name]])
        for name in fks:
            value = _target(model, name, row[name], everything) if row[name] else None
            if getattr(obj, f"{name}_id") != (value.pk if value else None):
                setattr(obj, name, value)
                obj.save(update_fields=[name])
    report.kind(section, label, added, changed, [obj.code for obj in retired], unchanged)
    return objs


def _target(model, name, code, own):
    """The row a field names by code: one of the section's own rows, or a row
    of the model the field points at."""
    target = model._meta.get_field(name).related_model
    if target is model:
        return own[code]
    return target.objects.get(code=code)


def update_policy(report, checked, section, *, label, policy, m2m=()):
    """Set the numbers of a one-row policy the section gives; `m2m` fields
    name rows by code."""
    values = checked.get(section)
    if values is None:
        return
    changed, fields = [], []
    for name, value in values.items():
        if name in m2m:
            if codes(getattr(policy, name)) != sorted(value):
                related = getattr(policy, name)
                related.set(related.model.objects.filter(code__in=value))
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
        report.add(section, f"{label}: changed " + "; ".join(changed))
    else:
        report.add(section, f"{label}: unchanged")
