from django.db import migrations

from accounts.groups import grant

CES_TEAM = "CES team"
SYSTEM_ADMIN = "CoC system admin"


def grant_permissions(apps, schema_editor):
    grant(apps, {
        # The CES team owns the need-status list and the referral policy
        # (SPEC §4: CoC staff edit the list, the deadlines, who may set each);
        # referrals themselves change only through the portal's services.
        CES_TEAM: {"referrals": ["view_needstatus", "add_needstatus", "change_needstatus",
                                 "view_referralpolicy", "change_referralpolicy",
                                 "view_referral", "view_referraltransition"]},
        SYSTEM_ADMIN: {"referrals": ["view_needstatus", "add_needstatus", "change_needstatus",
                                     "view_referralpolicy", "change_referralpolicy",
                                     "view_referral", "view_referraltransition"]},
    })


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0002_default_need_statuses"),
        ("accounts", "0002_coc_staff_groups"),
    ]
    operations = [migrations.RunPython(grant_permissions, migrations.RunPython.noop)]
