"""The counts report's figures, drawn a program at a time.

A page of the report holds up to 25 programs with a row per need status and
three linked figures per row: drawn with a template variable per figure,
link and label (each a lookup, a localisation and an escape), that was most
of the whole request's time. Here each program's rows are one step that
writes the same markup, escaping every name as the template did (the same
`html.escape`, once per name instead of once per use)."""

from html import escape

from django import template
from django.utils.safestring import mark_safe

register = template.Library()

# (attribute, the link's class, the label's words, the list's `due` filter)
_DUE = (("due_soon", "text-warning-emphasis fw-semibold", "due soon", "soon"),
        ("overdue", "text-danger fw-semibold", "overdue", "overdue"))


def _row(list_url, program_pk, row, links) -> str:
    name = escape(row.status.name)
    href = f"{list_url}?program={program_pk}&amp;status={row.status.pk}"
    cells = [f'<a href="{href}" aria-label="{row.total} open in {name}">{row.total}</a>' if links else f"{row.total}"]
    for attribute, css, words, due in _DUE:
        figure = getattr(row, attribute)
        if not figure:
            cells.append("0")
        elif links:
            cells.append(f'<a class="{css}" href="{href}&amp;due={due}" aria-label="{figure} {words} in {name}">'
                         f'{figure}</a>')
        else:
            cells.append(f"{figure}")
    return (f'\n      <tr>\n        <th scope="row" class="fw-normal">{name}</th>\n'
            f'        <td class="text-end">{cells[0]}</td>\n        <td class="text-end">{cells[1]}</td>\n'
            f'        <td class="text-end">{cells[2]}</td>\n      </tr>\n    ')


@register.simple_tag
def counts_rows(entry, list_url, links):
    """`entry`'s rows (a `selectors.ProgramCounts`), each count a link to the
    list when `links` (the person works referrals)."""
    list_url, program_pk = escape(list_url), int(entry.program.pk)
    return mark_safe("".join(_row(list_url, program_pk, row, links) for row in entry.rows))


@register.simple_tag
def counts_totals(entry, list_url, links):
    """The program's line of totals over every status."""
    href = f"{escape(list_url)}?program={int(entry.program.pk)}"
    cells = []
    for figure, due in ((entry.total, ""), (entry.due_soon, "&amp;due=soon"), (entry.overdue, "&amp;due=overdue")):
        if due and not figure:
            cells.append("0")
        else:
            cells.append(f'<a href="{href}{due}">{figure}</a>' if links else f"{figure}")
    return mark_safe(f'<td class="text-end">{cells[0]}</td>\n      <td class="text-end">{cells[1]}</td>\n'
                     f'      <td class="text-end">{cells[2]}</td>')
