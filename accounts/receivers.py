def participation_changed(sender, organization, **kwargs):
    from .services import refresh_for_organization

    refresh_for_organization(organization)
