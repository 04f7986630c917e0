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
