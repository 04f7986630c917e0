"""`{% static %}` as Django writes it, with each URL worked out once per
static files storage (`core.addresses.static_address`) instead of on every
page; built in (TEMPLATES' `builtins`), so the portal's templates load no
`static` library: `{% load static %}` would put Django's tag back.

Every page names six static files; Django's tag asks the app registry
whether staticfiles is installed, then the manifest storage cleans, looks up
and joins each name on every render, the same answer each time.
`{% get_static_prefix %}` and `{% get_media_prefix %}` are Django's own.
"""

from django import template
from django.templatetags import static

from hmis_portal.core.addresses import static_address

register = template.Library()
register.tags.update(static.register.tags)


class FixedStaticNode(static.StaticNode):
    @classmethod
    def handle_simple(cls, path):
        return static_address(path)


@register.tag("static")
def do_static(parser, token):
    return FixedStaticNode.handle_token(parser, token)
