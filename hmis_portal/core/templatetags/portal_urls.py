"""`{% url %}` as Django writes it, with a URL of no arguments worked out once
per process instead of on every page (built in, in place of Django's tag).

Every page's menu names a dozen such URLs (`{% url 'home' %}`), and each
`reverse()` costs as much as a small query's building: a URL without
arguments is the same on every request with the same URL configuration,
script prefix and current application, which key it. A URL with arguments,
or `as var`, is Django's own tag, unchanged.
"""

import threading

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.template import defaulttags
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape

register = template.Library()

_known: dict[tuple, str] = {}
_lock = threading.Lock()


def _forget(**kwargs) -> None:
    with _lock:
        _known.clear()


# A test that swaps the URL configuration reads its own URLs.
setting_changed.connect(_forget, dispatch_uid="portal_urls_forget")


class FixedURLNode(defaulttags.URLNode):
    """A URL without arguments, reversed once per key."""

    def render(self, context):
        request = getattr(context, "request", None)
        current_app = getattr(request, "current_app", None)
        if current_app is None:
            current_app = getattr(getattr(request, "resolver_match", None), "namespace", None)
        key = (settings.ROOT_URLCONF, get_urlconf(), get_script_prefix(), current_app, self.view_name.var)
        url = _known.get(key)
        if url is None:
            url = reverse(self.view_name.var, current_app=current_app)
            with _lock:
                _known[key] = url
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token):
    node = defaulttags.url(parser, token)
    fixed_name = (not node.args and not node.kwargs and node.asvar is None and not node.view_name.filters
                  and isinstance(node.view_name.var, str))
    if fixed_name:
        return FixedURLNode(node.view_name, node.args, node.kwargs, node.asvar)
    return node
