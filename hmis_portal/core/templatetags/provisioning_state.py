"""`{{ states|state_of:account.pk }}`: one account's `provisioning.SubjectState`
from the dict a view read for the whole page in one query."""

from django import template

register = template.Library()


@register.filter
def state_of(states, pk):
    if not states:
        return None
    return states.get(str(pk))
