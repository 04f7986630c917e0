"""`{% include "includes/fields.html" %}`'s one filter: a field's input with
Bootstrap's classes, for the plain text and password fields of the pages
every person opens (the password change). crispy-forms renders the same
markup through a dozen templates a field; these fields need none of them.
`widget` draws a text input or a select as Django's widget templates do."""

from django import template
from django.forms import widgets as forms
from django.utils.html import escape
from django.utils.safestring import mark_safe

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


def _attributes(attrs) -> str:
    # As django/forms/widgets/attrs.html: False leaves the attribute out, True writes its bare name.
    return "".join("" if value is False else f" {name}" if value is True else f' {name}="{escape(value)}"'
                   for name, value in attrs.items())


def _select(control, name, value, attrs) -> str | None:
    """A select whose options are not grouped, drawn from its choices as
    Django's `optgroups` chooses them (the first option whose value is the
    field's) without a dict of context per option; None for grouped options."""
    chosen = control.format_value(value)
    parts = [f'<select name="{escape(name)}"{_attributes(control.build_attrs(control.attrs, attrs))}>']
    has_selected = False
    for option_value, option_label in control.choices:
        if isinstance(option_label, (list, tuple)):
            return None
        option_value = "" if option_value is None else option_value
        selected = not has_selected and str(option_value) in chosen
        has_selected |= selected
        parts.append(f'\n  <option value="{escape(option_value)}"{" selected" if selected else ""}>'
                     f'{escape(option_label)}</option>\n')
    parts.append("\n</select>")
    return "".join(parts)


@register.filter
def widget(field):
    """The field's text input or select exactly as its widget's templates draw
    it (the same context: attributes, value, options, the chosen one), written
    here instead of through a template per option: a filter form on a list
    every person opens (the CES Participation Status List) draws a few dozen
    options a request. Other widgets are drawn by Django."""
    control = field.field.widget
    if isinstance(control, forms.CheckboxInput) or not isinstance(control, (forms.Input, forms.Select)) \
            or isinstance(control, forms.SelectMultiple):
        return field.as_widget()
    attrs = field.build_widget_attrs({}, control)
    if field.auto_id and "id" not in control.attrs:
        attrs.setdefault("id", field.auto_id)
    if isinstance(control, forms.Select) and (drawn := _select(control, field.html_name, field.value(), attrs)):
        return mark_safe(drawn)
    context = control.get_context(field.html_name, field.value(), attrs)["widget"]
    if isinstance(control, forms.Input):
        value = "" if context["value"] is None else f' value="{escape(context["value"])}"'
        return mark_safe(f'<input type="{escape(context["type"])}" name="{escape(context["name"])}"{value}'
                         f'{_attributes(context["attrs"])}>')
    parts = [f'<select name="{escape(context["name"])}"{_attributes(context["attrs"])}>']
    for group_name, options, _ in context["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{escape(group_name)}">')
        parts.extend(f'\n  <option value="{escape(option["value"])}"{_attributes(option["attrs"])}>'
                     f'{escape(option["label"])}</option>\n' for option in options)
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return mark_safe("".join(parts))
