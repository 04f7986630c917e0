"""One place for the bounds of what people type or a URL carries.

Ids fit a 32-bit signed integer (1 … 2^31-1), dates fall in years 2000 … 2100,
and text carries no NUL or other control characters. Anything outside is
invalid input, answered with a form error or an ignored filter, never sent to
the database (SQLite cannot bind a 30-digit integer; PostgreSQL refuses a NUL
in text; Python cannot add days to 9999-12-31).
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


class TextValidationMixin:
    """Adds `validate_text` to every CharField of a form."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.CharField) and validate_text not in field.validators:
                field.validators.append(validate_text)


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
