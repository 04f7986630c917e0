"""`{% navigation %}`: base.html's menu for a signed-in person
(templates/includes/navigation.html), drawn once per process for each menu.

The menu is most of what a page with nothing on it renders: thirty-odd
`{% if %}`s and twenty addresses through the template engine, the same
markup for everyone with the same `menu` on every request. It is kept per
menu (`accounts.context_processors.menu`: its links and the person's
agencies), the addresses' configuration (`core.addresses.configuration`) and
the fragment's template (a new one after an edit under DEBUG), and each page
fills in what is its own: the person's name and the sign-out form's CSRF
token (masked anew on every page, as Django's tag does).

The rest of base.html is kept the same way: the idle-timeout warning
(`{% idle_warning %}`, per sign-in policy, the seconds left and the token
filled in), and what is the same on every page of a process (`{% once %}`:
the head's and footer's static files, the brand). Other pages' fragments
drawn once and filled in use `drawn` and `filled` (the home page's to-dos)."""

import html
import re

from django import template
from django.conf import STATICFILES_STORAGE_ALIAS, settings
from django.core.files.storage import storages
from django.utils.functional import Promise
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
    return filled(drawn(_drawn, key, fragment, context, marked, _MARKS), context,
                  {_NAME: context["user"], _TOKEN: token if has_token else ""})


IDLE_FRAGMENT = "includes/idle_warning.html"
_SECONDS = "\x02"
_IDLE_MARKS = re.compile(f"([{_SECONDS}{_TOKEN}])")
_idle_drawn: dict = {}  # the policy's numbers × configurations (`core.addresses.kept`)


@register.simple_tag(takes_context=True)
def idle_warning(context):
    """base.html's idle-timeout warning: the same for everyone under the same
    sign-in policy but for the seconds left and the CSRF token."""
    idle = context["IDLE"]
    fragment = context.template.engine.get_template(IDLE_FRAGMENT)
    key = (fragment, configuration(current_app=current_app(context)), idle["window_seconds"],
           idle["warning_seconds"], idle["warning"])
    marked = {"IDLE": {**idle, "seconds_left": _SECONDS}, "csrf_token": _TOKEN}
    return filled(drawn(_idle_drawn, key, fragment, context, marked, _IDLE_MARKS), context,
                  {_SECONDS: idle["seconds_left"], _TOKEN: context.get("csrf_token", "")})


def drawn(memo: dict, key, fragment, context, marked: dict, marks) -> list[str]:
    """`fragment` drawn once per `key` (`core.addresses.kept`) with `marked`
    for its context, cut at the `marks` (a pattern that captures them): the
    fragment's markup, with a mark wherever each page puts its own value."""
    return kept(memo, key, lambda: marks.split(fragment.render(context.new(marked))))


def filled(parts: list[str], context, own: dict) -> str:
    """A drawn fragment's `parts` with each mark replaced by its page's own value,
    escaped as the template engine escapes a variable."""
    escape = _escape if context.autoescape else str
    own = {mark: escape(value) for mark, value in own.items()}
    return mark_safe("".join([own.get(part, part) for part in parts]))


def _escape(value) -> str:
    """`conditional_escape(value)`, in a few calls rather than a dozen (a
    home page fills in a few dozen values): markup as it is, anything else
    as text, escaped as Django's `escape` does (`html.escape`)."""
    if isinstance(value, Promise):
        value = str(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


class OnceNode(template.Node):
    """`{% once %}…{% endonce %}`: markup that is the same on every page of a
    process, drawn once and kept (base.html's head, brand and scripts: the
    portal's name, static files' and plain pages' addresses, a dozen lookups a
    page). It is drawn with the portal's name alone in its context, so
    whatever else it named would be missing on every page, not stale on some;
    kept per template, URL configuration, static files storage and name (as
    `core.addresses` keeps each address)."""

    def __init__(self, nodelist):
        self.nodelist = nodelist

    def render(self, context):
        name = settings.PORTAL_NAME
        key = (self, configuration(current_app=current_app(context)), storages[STATICFILES_STORAGE_ALIAS],
               settings.DEBUG, name, context.autoescape)
        return kept(_once, key, lambda: self.nodelist.render(context.new({"PORTAL_NAME": name})))


_once: dict = {}


@register.tag
def once(parser, token):
    nodelist = parser.parse(("endonce",))
    parser.delete_first_token()
    return OnceNode(nodelist)
