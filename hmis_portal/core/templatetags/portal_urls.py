"""`{% url %}` as Django writes it, with a URL of no arguments worked out once
per process instead of on every page (built in, in place of Django's tag).

Every page's menu names a dozen such URLs (`{% url 'home' %}`), and each
`reverse()` costs as much as a small query's building: a URL without
arguments is the same on every request with the same URL configuration,
script prefix and current application, which key it (`core.addresses`, as
the referrals menu looks up its links). A URL with arguments,
or `as var`, is Django's own tag, unchanged.
"""

from django import template
from django.template import defaulttags
from django.utils.html import conditional_escape

from hmis_portal.core.addresses import address

register = template.Library()


def current_app(context) -> str | None:
    """The application namespace `{% url %}` reverses in, as Django's tag finds it."""
    request = getattr(context, "request", None)
    found = getattr(request, "current_app", None)
    if found is None:
        found = getattr(getattr(request, "resolver_match", None), "namespace", None)
    return found


class FixedURLNode(defaulttags.URLNode):
    """A URL without arguments, reversed once per key (`core.addresses`)."""

    def render(self, context):
        url = address(self.view_name.var, current_app=current_app(context))
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token):
    node = defaulttags.url(parser, token)
    fixed_name = (not node.args and not node.kwargs and node.asvar is None and not node.view_name.filters
                  and isinstance(node.view_name.var, str))
    if fixed_name:
        return FixedURLNode(node.view_name, node.args, node.kwargs, node.asvar)
    return node
