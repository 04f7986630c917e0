"""Each CES role names the HMIS group that gives its HMIS role (SCIM 2.0 group
membership). Existing rows keep what the portal did so far: the group is
named as the HMIS role."""

from django.db import migrations, models
from django.db.models import F


def groups_named_as_roles(apps, schema_editor):
    apps.get_model("training", "CESRole").objects.filter(hmis_group="").update(hmis_group=F("hmis_role"))


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0008_form_signers_and_templates"),
    ]

    operations = [
        migrations.AddField(
            model_name="cesrole",
            name="hmis_group",
            field=models.CharField(
                default="", max_length=120, verbose_name="HMIS group",
                help_text="The group in the HMIS that gives this HMIS role (its name there). CES roles with the "
                          "same HMIS role name the same group."),
            preserve_default=False,
        ),
        migrations.RunPython(groups_named_as_roles, migrations.RunPython.noop),
    ]
