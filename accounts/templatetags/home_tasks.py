"""`{% task_items tasks %}`: the home page's to-dos, each drawn from
templates/accounts/_task.html once per process for each shape of to-do.

A to-do's markup is the same for every to-do with the same shape (whether
it has a detail, a due date, and is overdue) but its words; drawn by the
template engine, each of its seven values was a lookup, a localization and
an escape, and a home page lists up to a few dozen (a loop of the engine's
over them cost as much again). The fragment is drawn
once per shape and template (a new one after an edit under DEBUG), as the
menu is (`navigation.drawn`), and each to-do fills in its own words, escaped
as the engine escapes them."""

import re

from django import template
from django.utils.safestring import mark_safe

from hmis_portal.core.dates import deadline_text

from .navigation import drawn, filled

register = template.Library()

FRAGMENT = "accounts/_task.html"
# Drawn in place of the to-do's words, then cut out; the fragment's own markup holds none of them.
_SECTION, _URL, _TITLE, _DETAIL, _DUE = "\x00", "\x01", "\x02", "\x03", "\x04"
_MARKS = re.compile(f"([{_SECTION}{_URL}{_TITLE}{_DETAIL}{_DUE}])")
_drawn: dict = {}  # shapes × fragments (`core.addresses.kept`)


@register.simple_tag(takes_context=True)
def task_items(context, tasks):
    fragment = context.template.engine.get_template(FRAGMENT)
    items = []
    for task in tasks:
        detail, due, overdue = bool(task.detail), bool(task.due), bool(task.overdue)
        marked = {"section": _SECTION, "url": _URL, "title": _TITLE, "detail": _DETAIL if detail else "",
                  "due": _DUE if due else "", "overdue": overdue}
        parts = drawn(_drawn, (fragment, detail, due, overdue, context.autoescape), fragment, context, marked, _MARKS)
        items.append(filled(parts, context, {_SECTION: task.section, _URL: task.url, _TITLE: task.title,
                                             _DETAIL: task.detail, _DUE: deadline_text(task.due) if due else ""}))
    return mark_safe("".join(items))
