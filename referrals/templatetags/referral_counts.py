"""The counts report's programs, drawn a page at a time.

A page of the report holds up to 25 programs with a row per need status and
three linked figures per row: drawn with a template variable per figure,
link and label (each a lookup, a localisation and an escape), that was most
of the whole request's time, and so was a loop over the programs in the
template (a dozen lookups per program). Here the page's programs are one
step that writes the same markup from the report's plain rows, escaping
every name as the template did (the same `html.escape`, once per name
instead of once per use)."""

from html import escape

from django import template
from django.utils.safestring import mark_safe

from hmis_portal.core.addresses import address

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


def _totals(list_url, program_pk, entry, links) -> str:
    """The program's line of totals over every status."""
    href = f"{list_url}?program={program_pk}"
    cells = []
    for figure, due in ((entry.total, ""), (entry.due_soon, "&amp;due=soon"), (entry.overdue, "&amp;due=overdue")):
        if due and not figure:
            cells.append("0")
        else:
            cells.append(f'<a href="{href}{due}">{figure}</a>' if links else f"{figure}")
    return (f'<td class="text-end">{cells[0]}</td>\n      <td class="text-end">{cells[1]}</td>\n'
            f'      <td class="text-end">{cells[2]}</td>')


def _section(list_url, entry, links) -> str:
    program_pk, name = int(entry.program_pk), escape(entry.name)
    rows = "".join(_row(list_url, program_pk, row, links) for row in entry.rows)
    return (f'\n<section class="mb-4" aria-labelledby="program-{program_pk}">\n'
            f'  <h2 class="h5" id="program-{program_pk}">{name} <small class="text-muted">'
            f'{escape(entry.organization_name)}</small></h2>\n'
            '  <div class="table-responsive">\n'
            '  <table class="table table-sm table-hover align-middle counts-table">\n'
            f'    <caption class="visually-hidden">Open referrals to {name} by need status</caption>\n'
            '    <thead><tr><th scope="col">Need status</th><th scope="col" class="text-end">Open</th>'
            '<th scope="col" class="text-end">Due soon</th><th scope="col" class="text-end">Overdue</th></tr></thead>\n'
            f'    <tbody>\n    {rows}\n    </tbody>\n'
            '    <tfoot><tr class="table-light">\n'
            '      <th scope="row">All statuses</th>\n'
            f'      {_totals(list_url, program_pk, entry, links)}\n'
            '    </tr></tfoot>\n'
            '  </table>\n'
            '  </div>\n'
            '</section>\n')


@register.simple_tag
def counts_sections(entries, list_url, links):
    """A section per program of `entries` (`selectors.ProgramCounts`, a page
    of them), each count a link to the list when `links` (the person works
    referrals)."""
    list_url = escape(list_url)
    return mark_safe("".join(_section(list_url, entry, links) for entry in entries))


# The referrals menu: (key of the page it marks active, label, URL name, the
# query it adds, who sees it). "anyone" sees it; "workers" unless the page
# says the person does not work referrals (`works_referrals` False); "ces"
# only the CES team. The pages that need no mark have no key.
_NAV = (
    ("counts", "Counts report", "referrals:counts", "", "anyone"),
    ("list", "Open referrals", "referrals:list", "", "workers"),
    ("overdue", "Overdue", "referrals:overdue", "", "ces"),
    ("providers", "Providers", "referrals:providers", "", "ces"),
    (None, "Returned for re-referral", "referrals:list", "?queue=returned", "ces"),
    ("create", "New referral", "referrals:create", "", "ces"),
    (None, "Export CSV", "referrals:export", "", "ces"),
    ("hud-events", "HUD Event.csv", "referrals:hud-events-page", "", "ces"),
    ("timeliness", "Timeliness", "referrals:timeliness", "", "anyone"),
)


@register.simple_tag(takes_context=True)
def referrals_nav(context, active="", is_ces_team=None):
    """The referrals pages' menu, `active` marked: one step, each address
    looked up once per process (`core.addresses`), not a tag per link. The
    page's `works_referrals` and `is_ces_team` say who reads it (the latter
    given here by pages only the CES team opens)."""
    if is_ces_team is None:
        is_ces_team = context.get("is_ces_team")
    shown = {"anyone": True, "workers": context.get("works_referrals") is not False, "ces": bool(is_ces_team)}
    items = []
    for key, label, name, query, audience in _NAV:
        if not shown[audience]:
            continue
        mark = " active" if key is not None and key == active else ""
        items.append(f'    <li class="nav-item"><a class="nav-link{mark}" href="{escape(address(name))}{query}">'
                     f'{label}</a></li>\n')
    return mark_safe('<nav aria-label="Referrals" class="mb-3">\n  <ul class="nav nav-pills small">\n'
                     + "".join(items) + "  </ul>\n</nav>\n")


@register.simple_tag
def referrals_address(name):
    """`{% url name %}` for a page without arguments, looked up once per process."""
    return address(name)
