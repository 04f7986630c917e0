"""`{% navigation %}`: base.html's menu for a signed-in person
(templates/includes/navigation.html), drawn once per process for each menu.

The menu is most of what a page with nothing on it renders: thirty-odd
`{% if %}`s and twenty addresses through the template engine, the same
markup for everyone with the same `menu` on every request. It is kept per
menu (`accounts.context_processors.menu`: its links and the person's
agencies), the addresses' configuration (`core.addresses.configuration`) and
the fragment's template (a new one after an edit under DEBUG), and each page
fills in what is its own: the person's name and the sign-out form's CSRF
token (masked anew on every page, as Django's tag does)."""

import re

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from hmis_portal.core.addresses import configuration, kept
from hmis_portal.core.templatetags.portal_urls import current_app

register = template.Library()

FRAGMENT = "includes/navigation.html"
# Drawn in place of the person's name and the CSRF token, then cut out: no
# name holds a NUL (PostgreSQL's text cannot, and the portal refuses them in
# input), nor does anything else the menu shows.
_NAME, _TOKEN = "\x00", "\x01"
_MARKS = re.compile(f"([{_NAME}{_TOKEN}])")
_drawn: dict = {}  # menus × configurations (`core.addresses.kept`)


def _menu_key(menu) -> tuple:
    return tuple((link, tuple((agency.slug, str(agency)) for agency in shown) if link == "agencies" else shown)
                 for link, shown in menu.items())


@register.simple_tag(takes_context=True)
def navigation(context):
    menu = context["menu"]
    token = context.get("csrf_token")
    # Django's {% csrf_token %} draws nothing without a token.
    has_token = bool(token) and token != "NOTPROVIDED"
    fragment = context.template.engine.get_template(FRAGMENT)
    key = (fragment, configuration(current_app=current_app(context)), _menu_key(menu), has_token)
    marked = {"menu": menu, "user": _NAME, "csrf_token": _TOKEN if has_token else token}
    parts = kept(_drawn, key, lambda: _MARKS.split(fragment.render(context.new(marked))))
    escape = conditional_escape if context.autoescape else str
    own = {_NAME: escape(context["user"]), _TOKEN: escape(token) if has_token else ""}
    return mark_safe("".join(own.get(part, part) for part in parts))
