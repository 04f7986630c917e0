"""`{% include "includes/fields.html" %}`'s one filter: a field's input with
Bootstrap's classes, for the plain text and password fields of the pages
every person opens (the password change). crispy-forms renders the same
markup through a dozen templates a field; these fields need none of them."""

from django import template

register = template.Library()


@register.filter
def control(field):
    """The field's widget as Bootstrap 5 draws it: `form-control`, and
    `is-invalid` with its error message named by aria-describedby."""
    widget_class = field.field.widget.__class__.__name__.lower()
    attrs = {"class": f"{widget_class} form-control" + (" is-invalid" if field.errors else "")}
    if field.errors:
        described = [f"{field.auto_id}_helptext"] if field.help_text else []
        attrs["aria-describedby"] = " ".join([*described, f"{field.auto_id}_error"])
    return field.as_widget(attrs=attrs)
