"""Webhooks' signing secrets are sealed at rest (hmis_portal.core.sealed):
the column grows to hold the sealed form, and the secrets kept in clear so
far are sealed under this portal's SECRET_KEY. Going back opens them again."""

from django.db import migrations, models

from hmis_portal.core.sealed import PREFIX, seal, unseal


def seal_kept_secrets(apps, schema_editor):
    Subscription = apps.get_model("core", "WebhookSubscription")
    for subscription in Subscription.objects.exclude(secret__startswith=PREFIX).only("pk", "secret"):
        Subscription.objects.filter(pk=subscription.pk).update(secret=seal(subscription.secret))


def open_sealed_secrets(apps, schema_editor):
    Subscription = apps.get_model("core", "WebhookSubscription")
    for subscription in Subscription.objects.filter(secret__startswith=PREFIX).only("pk", "secret"):
        Subscription.objects.filter(pk=subscription.pk).update(secret=unseal(subscription.secret))


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0006_notification_invitation"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhooksubscription",
            name="secret",
            field=models.CharField(editable=False, max_length=255),
        ),
        migrations.RunPython(seal_kept_secrets, open_sealed_secrets, elidable=False),
    ]
