"""What tells the cache that a person's standing changed (accounts.access.standing):
a membership added or removed, a CoC group joined or left, an agency or a group
renamed or removed, a permission given or taken. Signals rather than the services alone: memberships are also
changed in the admin and by invitations, and group membership only in the admin
(Django's own m2m form), which calls no service of ours."""

from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from hmis_portal.core import cached

from .access import standing_cache_name
from .models import Membership, Organization, User


@receiver([post_save, post_delete], sender=Membership, dispatch_uid="standing-membership")
def membership_changed(sender, instance, **kwargs):
    cached.changed(standing_cache_name(instance.user_id))


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="standing-groups")
def groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if not action.startswith("post_"):
        return
    if not reverse:
        cached.changed(standing_cache_name(instance.pk))
    elif pk_set:
        cached.changed(*(standing_cache_name(pk) for pk in pk_set))
    else:
        cached.changed("people")  # a group emptied: whoever was in it


@receiver(m2m_changed, sender=User.user_permissions.through, dispatch_uid="standing-permissions")
def permissions_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action.startswith("post_"):
        cached.changed(standing_cache_name(instance.pk) if not reverse else "people")


@receiver(m2m_changed, sender=Group.permissions.through, dispatch_uid="standing-group-permissions")
def group_permissions_changed(sender, action, **kwargs):
    if action.startswith("post_"):
        cached.changed("people")


@receiver([post_save, post_delete], sender=Organization, dispatch_uid="standing-organization")
@receiver([post_save, post_delete], sender=Group, dispatch_uid="standing-group")
def names_changed(sender, **kwargs):
    # An agency's name is in every member's menu; a group removed leaves its
    # people's standing without it. Rare: everyone's standing is read again.
    cached.changed("people")
