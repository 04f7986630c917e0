"""How HMIS access hears of changes in the earlier stages (named signals)."""

from .services import refresh_for_organization, refresh_for_user


def participation_changed(sender, organization, **kwargs):
    refresh_for_organization(organization=organization)


def training_record_changed(sender, user, actor=None, **kwargs):
    refresh_for_user(user=user, actor=actor)
