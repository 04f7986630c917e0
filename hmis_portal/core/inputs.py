"""One place for the bounds of what people type or a URL carries.

Ids fit a 32-bit signed integer (1 … 2^31-1), dates fall in years 2000 … 2100,
and text carries no NUL or other control characters. Anything outside is
invalid input, answered with a form error or an ignored filter, never sent to
the database (SQLite cannot bind a 30-digit integer; PostgreSQL refuses a NUL
in text; Python cannot add days to 9999-12-31).

A single-line field (a name, a title, a phone number, an id) carries no line
break and no invisible bidirectional or zero-width formatting character: a
name typed as "Org\r\nBcc: x@example.org" would become an email header when
used in a subject, and a right-to-left override or a zero-width space makes a
name read as something else than what is stored ("‮gro.elpmaxe" shows as
"example.org"). `validate_single_line` is the one validator: forms get it
through `TextValidationMixin` (every CharField with a one-line widget), the
admin through `accounts.admin_base`, and services that take such text call
`check_single_line`. The zero-width joiner and non-joiner stay allowed:
Persian, Arabic and Indic names and emoji need them to be written at all.
"""

import datetime as dt
import re

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest
from django.template.loader import render_to_string

MIN_ID, MAX_ID = 1, 2**31 - 1
MIN_DATE, MAX_DATE = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
# C0 controls except tab, newline and carriage return, DEL, and the C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


# Line breaks: CR, LF, vertical tab, form feed, the file/group/record
# separators and NEL that str.splitlines() also breaks on, and U+2028/U+2029.
LINE_BREAKS = "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"
# Bidirectional and zero-width formatting characters: the Arabic letter mark,
# the Mongolian vowel separator, the zero-width space, the left-to-right and
# right-to-left marks, the embeddings and overrides (U+202A–202E), the word
# joiner and invisible operators (U+2060–2064), the isolates (U+2066–2069),
# the deprecated format characters (U+206A–206F) and the zero-width no-break
# space / byte order mark (U+FEFF).
FORMATTING = ("\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u206a-\u206f"
              "\ufeff")
_LINE_BREAK = re.compile(f"[{LINE_BREAKS}]+")
_FORMATTING = re.compile(f"[{FORMATTING}]")
SINGLE_LINE_MESSAGE = "Type this on one line: line breaks are not allowed here."
FORMATTING_MESSAGE = ("Remove the invisible formatting characters (such as a right-to-left override or a "
                      "zero-width space) from this text.")


def parse_id(value) -> int | None:
    """A database id from a query string or form, or None when it is not one."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if MIN_ID <= number <= MAX_ID else None


def parse_date(value) -> dt.date | None:
    """An ISO date within MIN_DATE … MAX_DATE, or None."""
    try:
        day = dt.date.fromisoformat(str(value).strip()) if value else None
    except ValueError:
        return None
    return day if day is not None and MIN_DATE <= day <= MAX_DATE else None


def has_control_characters(text: str) -> bool:
    return bool(CONTROL.search(text or ""))


def validate_text(value) -> None:
    """Form validator: no NUL or other control characters (tabs and line breaks are fine)."""
    if isinstance(value, str) and has_control_characters(value):
        raise ValidationError("Remove the invisible control characters from this text.", code="control_characters")


def single_line_problem(value) -> str:
    """Why `value` is not one line of plain text, or "" when it is."""
    if not isinstance(value, str):
        return ""
    if _LINE_BREAK.search(value):
        return SINGLE_LINE_MESSAGE
    if _FORMATTING.search(value):
        return FORMATTING_MESSAGE
    return ""


def validate_single_line(value) -> None:
    """Validator for a single-line field (forms, the admin, services)."""
    problem = single_line_problem(value)
    if problem:
        code = "line_break" if problem == SINGLE_LINE_MESSAGE else "formatting_characters"
        raise ValidationError(problem, code=code)


def check_single_line(**fields) -> None:
    """For a service: raise one ValidationError naming each field (by its
    keyword) whose text is not a single line, before anything is written."""
    problems = {name: problem for name, value in fields.items() if (problem := single_line_problem(value))}
    if problems:
        raise ValidationError(problems)


def one_line(text: str) -> str:
    """`text` as one line (an email subject): each run of line breaks becomes a
    space and formatting characters are dropped. For text that is built, not
    typed; typed text is refused instead (`validate_single_line`)."""
    return _FORMATTING.sub("", _LINE_BREAK.sub(" ", text or ""))


def validate_date(value) -> None:
    if value and not MIN_DATE <= value <= MAX_DATE:
        raise ValidationError(f"Enter a date between {MIN_DATE:%Y} and {MAX_DATE:%Y}.", code="date_range")


class BoundedDateField(forms.DateField):
    default_validators = [validate_date]


def validate_moment(value) -> None:
    if value and not MIN_DATE <= value.date() <= MAX_DATE:
        raise ValidationError(f"Enter a date between {MIN_DATE:%Y} and {MAX_DATE:%Y}.", code="date_range")


class BoundedDateTimeField(forms.DateTimeField):
    """A date and time typed in the CoC's local time (`<input type="datetime-local">`),
    made aware in the CoC's time zone, in years MIN_DATE … MAX_DATE."""

    default_validators = [validate_moment]
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class IdMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A ModelMultipleChoiceField that refuses anything but ids before its
    `pk__in` query (which SQLite cannot run with a 30-digit number)."""

    def _check_values(self, value):
        if self.to_field_name is None:
            for pk in value:
                if parse_id(pk) is None:
                    raise ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value",
                                          params={"pk": str(pk)[:20]})
        return super()._check_values(value)


def is_single_line(field) -> bool:
    """A text field typed on one line: a CharField whose widget is not a
    text area (passwords are never shown, so they are left as typed)."""
    return (isinstance(field, forms.CharField)
            and not isinstance(field.widget, forms.Textarea | forms.PasswordInput | forms.HiddenInput))


def add_text_validators(fields) -> None:
    """`validate_text` on every CharField, and `validate_single_line` on the single-line ones."""
    for field in fields:
        if not isinstance(field, forms.CharField):
            continue
        if validate_text not in field.validators:
            field.validators.append(validate_text)
        if is_single_line(field) and validate_single_line not in field.validators:
            field.validators.append(validate_single_line)


class TextValidationMixin:
    """Adds `validate_text` to every CharField of a form, and
    `validate_single_line` to those typed on one line."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        add_text_validators(self.fields.values())


def _carries_nul(values) -> bool:
    return any("\x00" in key or any("\x00" in v for v in vals if isinstance(v, str)) for key, vals in values.lists())


class RejectNulBytesMiddleware:
    """A NUL byte has no place in a path, a query string or a form value, and
    PostgreSQL refuses it in text: answer 400 with a plain page before any view
    or query sees it. Cheap (a substring test) and total (every URL)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", "") or _carries_nul(request.GET) \
                or (request.method == "POST" and _carries_nul(request.POST)):
            return HttpResponseBadRequest(render_to_string("400.html", {
                "message": "The address or form contained a character that is not allowed (a NUL byte). "
                           "Go back and type the text again."}))
        return self.get_response(request)
