"""`{{ states|state_of:account.pk }}`: one account's `provisioning.SubjectState`
from the dict a view read for the whole page in one query."""

from django import template

register = template.Library()


@register.filter
def state_of(states, pk):
    if not states:
        return None
    return states.get(str(pk))


@register.filter
def synced_ago(moment):
    """ "just now" within the first minute, else "2 minutes ago"."""
    import datetime as dt

    from django.utils import timezone
    from django.utils.timesince import timesince

    if moment is None:
        return ""
    if timezone.now() - moment < dt.timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"
