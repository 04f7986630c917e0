"""Trainings and forms that come after CoC approval of the access request now
say so themselves (`waits_for` "approval"): where the access policy already
had the approval step, every course and form waits for it, as before."""

from django.db import migrations


def approval_on_every_item(apps, schema_editor):
    AccessPolicy = apps.get_model("hmis_access", "AccessPolicy")
    if not AccessPolicy.objects.filter(access_requests_need_approval=True).exists():
        return
    for name in ("Course", "RequiredForm"):
        for row in apps.get_model("training", name).objects.all():
            if "approval" not in row.waits_for:
                row.waits_for = ["approval", *row.waits_for]
                row.save(update_fields=["waits_for"])


class Migration(migrations.Migration):

    dependencies = [
        ('hmis_access', '0011_username_rule'),
        ('training', '0011_items_wait_for_prerequisites'),
    ]

    operations = [
        migrations.RunPython(approval_on_every_item, migrations.RunPython.noop),
    ]
