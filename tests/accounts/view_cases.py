from tests.view_permissions import ViewCase

CASES = [
    # Every member of an agency sees its people; CoC staff who look after
    # agencies see them too.
    ViewCase(
        "organization-detail",
        build=lambda organization: {"slug": organization.slug},
        personas="any",
        coc_groups=("CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin"),
    ),
]


def _invitation(organization):
    from django.utils import timezone

    from accounts.models import Invitation

    return Invitation.objects.create(
        organization=organization, email=f"invitee-{organization.pk}@example.org", persona="staff",
        token_hash=f"{organization.pk:064d}", expires_at=timezone.now() + timezone.timedelta(days=3))


INVITERS = ("program_manager", "agency_administrator")
AGENCY_MANAGERS = ("CoC implementation", "CoC system admin")

CASES += [
    # An agency's Program Manager or Agency Administrator invites its staff; the implementation team anyone.
    ViewCase("organization-invite", build=lambda o: {"slug": o.slug}, personas=INVITERS, coc_groups=AGENCY_MANAGERS),
    ViewCase("organization-invite", build=lambda o: {"slug": o.slug}, personas=INVITERS, coc_groups=AGENCY_MANAGERS,
             method="post", data=lambda kw: {"email": ""}),
    ViewCase("invitation-resend", build=lambda o: {"pk": _invitation(o).pk}, personas=INVITERS,
             coc_groups=AGENCY_MANAGERS, method="post"),
    ViewCase("invitation-revoke", build=lambda o: {"pk": _invitation(o).pk}, personas=INVITERS,
             coc_groups=AGENCY_MANAGERS, method="post"),
    # CoC staff find agencies and people across the CoC.
    ViewCase("agency-search", coc_groups=("CoC implementation", "CoC training", "CoC provisioning", "CES team",
                                          "CoC system admin"), agency_object=False),
]
