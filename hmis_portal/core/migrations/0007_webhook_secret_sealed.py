"""Webhooks' signing secrets are sealed at rest (hmis_portal.core.sealed):
the column grows to hold the sealed form, and the secrets kept in clear so
far are sealed under this portal's SECRET_KEY. Going back opens them again."""

import base64

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import migrations, models

# As hmis_portal.core.sealed seals them, copied: a migration imports no app code.
PREFIX = "sealed:"


def _keys():
    def fernet(secret_key):
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"hmis-portal sealed secrets").derive(secret_key.encode())
        return Fernet(base64.urlsafe_b64encode(derived))

    return MultiFernet([fernet(key) for key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)])


def seal(plain):
    return PREFIX + _keys().encrypt(plain.encode()).decode()


def unseal(stored):
    return _keys().decrypt(stored[len(PREFIX):].encode()).decode()


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
