import copy
import functools

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from . import cached


class AuditEvent(models.Model):
    """One state change: who did what to which object, from what to what, and why.

    Written by every state-changing service in the same transaction as the
    change itself, so an event exists exactly when the change does.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when a scheduled job acted.",
    )
    verb = models.CharField(max_length=80)
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    subject = GenericForeignKey("content_type", "object_id")
    object_repr = models.CharField("object", max_length=200)
    from_state = models.CharField("from", max_length=80, blank=True)
    to_state = models.CharField("to", max_length=80, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField("when", default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "created_at"])]

    def __str__(self):
        who = self.actor or "system"
        change = f" {self.from_state} → {self.to_state}" if self.from_state or self.to_state else ""
        return f"{who} {self.verb} {self.object_repr}{change}"

    @property
    def actor_label(self):
        """Who acted: the person, someone without an account named by the
        service that recorded it (a contact asking to join), or a scheduled job."""
        if self.actor_id:
            return str(self.actor)
        return (self.data or {}).get("actor_name") or "Scheduled job"

    # States are stored as codes ("setup_complete"); people read the labels
    # of the subject's choices ("Setup complete"), whatever the model.
    @property
    def from_label(self):
        return state_label(self.content_type_id, self.from_state)

    @property
    def to_label(self):
        return state_label(self.content_type_id, self.to_state)


def state_label(content_type_id: int, code: str) -> str:
    if not code:
        return code
    return _choice_labels(ContentType.objects.get_for_id(content_type_id).model_class()).get(code, code)


@functools.lru_cache(maxsize=None)
def _choice_labels(model) -> dict:
    labels = {}
    for field in model._meta.get_fields() if model else ():
        for value, label in getattr(field, "choices", None) or ():
            labels.setdefault(str(value), str(label))
    # States its events carry that are no field of its own (an agency's events
    # name personas: "invited a person → Program Manager").
    for value, label in (getattr(model, "event_state_choices", None) or (lambda: ()))():
        labels.setdefault(str(value), str(label))
    return labels


class Notification(models.Model):
    """The outbox: a row per message, written in the transaction that causes it.

    Delivery happens after commit through Celery; a message whose queueing
    failed (broker down) or whose sending failed stays pending and is picked
    up by the periodic delivery job, so nothing is lost and, because each
    delivery claims its row with a conditional update, nothing is sent twice.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_email = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    link = models.CharField(max_length=300, blank=True, help_text="Portal path the message points to.")
    # An invitation calendar apps apply (an iTIP .ics, METHOD REQUEST or CANCEL),
    # written with the message so every try sends the same revision. Empty by
    # default in the database too: the sweeps' INSERT … SELECT leave them out.
    calendar = models.TextField(blank=True, default="", db_default="")
    calendar_method = models.CharField(max_length=10, blank=True, default="", db_default="")
    # Scheduled jobs name each message ("provisioning-overdue:42:2026-11-21:user7")
    # so a re-run of the same job on the same day queues nothing new.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="core_notification_due")]

    def __str__(self):
        return f"{self.subject} → {self.to_email} ({self.get_status_display()})"


class CachedQuerySet(models.QuerySet):
    """Rows that pages keep in `core.cached` under `cache_name`: a change made
    through the queryset (update, delete, bulk_create), which sends no save
    signal, tells the cache as `save()` and `delete()` do."""

    def _changed(self):
        cached.changed(self.model.cache_name())

    def update(self, **kwargs):
        rows = super().update(**kwargs)
        self._changed()
        return rows

    def delete(self):
        deleted = super().delete()
        self._changed()
        return deleted

    def bulk_create(self, objs, *args, **kwargs):
        created = super().bulk_create(objs, *args, **kwargs)
        self._changed()
        return created

    def bulk_update(self, objs, *args, **kwargs):
        rows = super().bulk_update(objs, *args, **kwargs)
        self._changed()
        return rows


class CachedRows(models.Model):
    """A table every page reads (a policy, the holidays), or whose rows a
    kept value is drawn from (the CES Participation Status List's pages),
    kept in `core.cached` and forgotten on every change made through the ORM."""

    objects = CachedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def cache_name(cls) -> str:
        return f"rows:{cls._meta.label}"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        cached.changed(self.cache_name())

    def delete(self, *args, **kwargs):
        deleted = super().delete(*args, **kwargs)
        cached.changed(self.cache_name())
        return deleted


class Holiday(CachedRows):
    """A day the CoC's office is closed, in addition to the US federal holidays
    (observed dates) that the business-day calendar always excludes."""

    date = models.DateField(unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["date"]

    def __str__(self):
        return f"{self.name} ({self.date:%a %b %-d, %Y})"


class PolicyRow(CachedRows):
    """Base of the CoC's one-row policy tables (the numbers of seed 000/001/002
    that CoC staff edit in the admin): the row is created with its defaults
    the first time it is asked for. A page reads it once per request, from the
    cache (core.cached); a save through the admin, a service or a policy pack
    makes every process read it again."""

    class Meta:
        abstract = True

    @classmethod
    def current(cls):
        policy = cached.read(cls.cache_name(), cls._load)
        # A copy: a caller that changes its row changes no other caller's.
        return copy.copy(policy) if cached.kept_for_reuse() else policy

    @classmethod
    def _load(cls):
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


class MailPolicy(PolicyRow):
    """Where replies to the portal's mail go. Each message's Reply-To is the
    inbox of the CoC team that answers for the page it links to (the app
    that serves the page says which team: `registry.mail_teams`); an inbox
    left blank means no Reply-To, and replies go to the sending address."""

    implementation_inbox = models.EmailField(
        "HMIS implementation inbox", blank=True,
        help_text="Joining HMIS: agencies, agreements, program setup, data partnerships, invitations.")
    support_inbox = models.EmailField(
        "HMIS support inbox", blank=True, help_text="HMIS access requests, accounts and passwords.")
    training_inbox = models.EmailField(
        "HMIS training inbox", blank=True, help_text="Trainings, certificates and signed forms.")
    ces_inbox = models.EmailField("CES team inbox", blank=True, help_text="CES referrals.")

    TEAMS = {"implementation": "implementation_inbox", "support": "support_inbox", "training": "training_inbox",
             "ces": "ces_inbox"}

    class Meta:
        verbose_name = verbose_name_plural = "mail policy"

    def __str__(self):
        return "Mail policy"

    def inbox(self, team: str) -> str:
        return getattr(self, self.TEAMS[team]) if team in self.TEAMS else ""


def day_list(text: str, *, reverse: bool = False) -> list[int]:
    """Policy days written as "7,1": distinct whole numbers, sorted."""
    return sorted({int(part) for part in text.split(",") if part.strip().isdigit()}, reverse=reverse)


class ProvisioningCommand(models.Model):
    """The HMIS provisioning outbox: one command to the CoC's HMIS (over SCIM
    2.0) per decision, written in the transaction that makes the decision.

    `subject` is the portal's HMIS account id (the user's externalId in the
    HMIS). Commands of one subject are sent in the order they were written: a
    command waits while an earlier one of its subject is not done. Delivery
    claims a row for `provisioning.CLAIM_TIMEOUT`; a worker that dies holding
    it leaves a claim that expires, and the command is sent again (every
    command is safe to repeat: a create that meets its user links it, setting
    what is already set changes nothing).
    """

    class Kind(models.TextChoices):
        CREATE = "create", "Create or link the user"
        ACTIVATE = "activate", "Set active"
        DEACTIVATE = "deactivate", "Set inactive"
        SET_GROUP = "set_group", "Set the role's group"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DONE = "done", "In the HMIS"
        FAILED = "failed", "Failed"

    subject = models.CharField(max_length=64, help_text="The portal's HMIS account id (externalId in the HMIS).")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    payload = models.JSONField(default=dict, blank=True)
    # A decision written twice at once (a double grant) makes one command.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When it is tried again by itself; a refusal is tried again on the same
    # backoff as a failure to reach the HMIS. Empty: it waits for "Retry".
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    remote_id = models.CharField(max_length=200, blank=True, help_text="The user's id in the HMIS, once known.")
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="core_provisioning_due"),
            models.Index(fields=["subject", "id"], name="core_provisioning_subject"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for HMIS account {self.subject} ({self.get_status_display()})"


class ProvisioningDrift(models.Model):
    """One finding of the last reconciliation of the HMIS with the portal:
    the set is replaced, in the reconciliation's transaction, by each run
    that is not a dry run, so provisioning staff read what the HMIS looked
    like last time it was compared. `subject` is the portal's HMIS account id
    ("" for a user the portal does not know)."""

    class Kind(models.TextChoices):
        # The values are the kinds `hmis_sync` prints (scim.py).
        ACTIVE_NOT_IN_PORTAL = "active-in-hmis-unknown-in-portal", "Active in the HMIS but unknown to the portal"
        ACTIVE_INACTIVE_IN_PORTAL = "active-in-hmis-inactive-in-portal", "Active in the HMIS but Inactive in the portal"
        MISSING_IN_HMIS = "missing-in-hmis", "Missing in the HMIS"
        INACTIVE_IN_HMIS = "inactive-in-hmis", "Inactive in the HMIS but Active in the portal"
        GROUP_DIFFERS = "role-group-differs", "HMIS role group differs"

    user_name = models.CharField("HMIS username", max_length=200)
    kind = models.CharField(max_length=40, choices=Kind.choices)
    subject = models.CharField(max_length=64, blank=True, help_text="The portal's HMIS account id, if it knows the user.")
    remote_id = models.CharField(max_length=200, blank=True, help_text="The user's id in the HMIS, if it has one.")
    detail = models.CharField(max_length=500, blank=True)
    found_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user_name", "kind", "id"]

    @property
    def dangerous(self) -> bool:
        """Someone can use the HMIS whom the portal has not let in."""
        return self.kind in (self.Kind.ACTIVE_NOT_IN_PORTAL, self.Kind.ACTIVE_INACTIVE_IN_PORTAL)

    def __str__(self):
        return f"{self.user_name}: {self.get_kind_display()}"


class WebhookSubscription(models.Model):
    """A system admin's subscription of a URL to some of the portal's events
    (`hmis_portal.core.webhooks.EVENTS`). Deliveries are signed with its
    signing secret (Standard Webhooks, `whsec_` + base64), which must be kept
    to sign: it is sealed at rest (`hmis_portal.core.sealed`), shown once when
    made or rotated, and never again.

    After `settings.WEBHOOK_PAUSE_AFTER_FAILURES` failed attempts in a row the
    subscription is paused and its owner and the system admins are told; its
    events keep being recorded while it is paused and go out, in order, once
    it is resumed."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    # One subscription per receiver: a double submit of the form makes one.
    url = models.URLField("URL", max_length=500, unique=True)
    description = models.CharField(max_length=200, blank=True)
    # Space-separated, with a space before and after ("␠referral.created␠…␠"),
    # so one LIKE finds the subscriptions to an event in plain SQL.
    event_types = models.CharField(max_length=1000)
    secret = models.CharField(max_length=255, editable=False)  # sealed; read through `signing_secret`
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["url", "id"]

    def __str__(self):
        return f"Webhook to {self.url}"

    @property
    def events(self) -> list[str]:
        return self.event_types.split()

    @property
    def signing_secret(self) -> str:
        from .sealed import unseal

        return unseal(self.secret)


class WebhookDelivery(models.Model):
    """One event for one subscription: the webhook outbox and its delivery
    log. Written in the transaction of the decision it tells of; `event_id`
    is the `webhook-id` header, the same on every attempt and on a replay;
    `payload` the body (ids, states and links, never client data). A
    subscription's events of one `subject` go out in the order written."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=80)
    event_type = models.CharField(max_length=60)
    subject = models.CharField(max_length=80)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True, help_text="The receiver's last HTTP status.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_id"], name="core_webhook_once_per_subscription"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="core_webhook_due"),
            models.Index(fields=["subscription", "subject", "id"], name="core_webhook_subject"),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_id} ({self.get_status_display()})"
