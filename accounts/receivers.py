"""What tells the cache that a person's standing changed (accounts.access.standing):
a membership added or removed, a CoC group joined or left, an agency or a group
renamed or removed, a permission given or taken. Signals rather than the services alone: memberships are also
changed in the admin and by invitations, and group membership only in the admin
(Django's own m2m form), which calls no service of ours."""

from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
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
        cached.changed("people")  # a group emptied from its side: whoever was in it (rare, the admin never does)


@receiver(m2m_changed, sender=User.user_permissions.through, dispatch_uid="standing-permissions")
def permissions_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action.startswith("post_"):
        cached.changed(standing_cache_name(instance.pk) if not reverse else "people")


@receiver(m2m_changed, sender=Group.permissions.through, dispatch_uid="standing-group-permissions")
def group_permissions_changed(sender, action, **kwargs):
    if action.startswith("post_"):
        cached.changed("people")


@receiver(post_save, sender=Organization, dispatch_uid="standing-organization")
def organization_renamed(sender, instance, created, **kwargs):
    # An agency's name and link are in each member's menu. A new agency has
    # no members yet; one removed takes its memberships along (each one's
    # post_delete above).
    if not created:
        cached.changed(*(standing_cache_name(user_id) for user_id in
                         Membership.objects.filter(organization=instance).values_list("user_id", flat=True)))


@receiver([post_save, pre_delete], sender=Group, dispatch_uid="standing-group")
def group_changed(sender, instance, **kwargs):
    # A group renamed, or removed (its memberships go without an m2m signal):
    # its people's standing names it.
    cached.changed(*(standing_cache_name(user_id) for user_id in
                     User.groups.through.objects.filter(group=instance).values_list("user_id", flat=True)))
