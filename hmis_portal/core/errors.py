"""One way to show a refusal from a service: as form errors on the fields it
names, or as messages. Services raise ValidationError (bad input, a state that
does not allow the change) or PermissionDenied (not theirs to do)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError

REFUSALS = (ValidationError, PermissionDenied)


def refusal_messages(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    return [str(exc) or "You may not do this."]


def apply_to_form(form, exc: ValidationError) -> None:
    """Put each error on the field it names (or the form as a whole)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        for message in exc.messages:
            form.add_error(None, message)


def message_refusal(request, exc: Exception, prefix: str = "") -> None:
    messages.error(request, prefix + " ".join(refusal_messages(exc)))
