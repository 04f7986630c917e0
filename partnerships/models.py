"""Data partnerships for agencies that do not use HMIS (seed 003, step 3; SPEC §3.6).

"Agencies who are not HMIS users but have Coordinated Entry intakes/client
data that needs entered into HMIS will need to sign an MOA for a data
partnership with an agency who can enter data into HMIS on their behalf",
and "staff need to send data to their HMIS data partner ASAP so that data can
be entered into HMIS within the 3 business-day time frame" (seed 003).

A `DataPartnership` is that MOA between two agencies; an `IntakeBatch` is one
hand-over of intakes to the partner. The portal stores no client data: a
batch is a count, a moment and an optional reference the agencies agree on.
Its deadline is stored when it is recorded, so the pages and the daily sweep
read plain indexed columns.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from hmis_portal.core.documents import RandomName, private_storage
from hmis_portal.core.models import PolicyRow

MAX_INTAKES = 10_000


class PartnershipPolicy(PolicyRow):
    """The CoC's numbers for data partnerships. One row, edited in the admin
    or set by a policy pack (`partnership_policy`)."""

    entry_business_days = models.PositiveSmallIntegerField(
        "entry deadline (business days)", default=3, validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="An intake batch must be entered into HMIS by the end of this many business days after the "
                  "day the partner received it.")
    escalation_margin_days = models.PositiveSmallIntegerField(
        default=1, validators=[MaxValueValidator(60)],
        help_text="Business days after a batch becomes overdue at which CoC staff are alerted.")
    sweep_batch_size = models.PositiveIntegerField(
        default=500, validators=[MinValueValidator(1)],
        help_text="At most this many batches are flagged (and as many escalated) per run; the next run continues.")

    class Meta:
        verbose_name = verbose_name_plural = "data partnership policy"

    def __str__(self):
        return "Data partnership policy"


class DataPartnership(models.Model):
    """An MOA between an agency that does not use HMIS and a partner agency
    that enters its Coordinated Entry intakes into HMIS on its behalf."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Waiting for the partner agency"
        ACTIVE = "active", "Active"
        DECLINED = "declined", "Declined"
        ENDED = "ended", "Ended"

    OPEN_STATUSES = (Status.PROPOSED, Status.ACTIVE)

    agency = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="data_partnerships",
                               help_text="The agency that does not use HMIS and sends its intakes.")
    partner = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT,
                                related_name="data_partnerships_as_partner", verbose_name="HMIS data partner",
                                help_text="The agency that enters the intakes into HMIS.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    moa = models.FileField("signed MOA", storage=private_storage, upload_to=RandomName("partnership-moas"))
    moa_signed_on = models.DateField("MOA signed on")
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    proposed_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)
    ended_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_at", "-id"]
        verbose_name = "data partnership"
        constraints = [
            # Two proposals at once for the same pair: the database decides.
            models.UniqueConstraint(fields=["agency", "partner"], condition=Q(status__in=["proposed", "active"]),
                                    name="one_open_partnership_per_pair"),
            models.CheckConstraint(condition=~Q(agency=F("partner")), name="partnership_not_with_itself"),
        ]

    def __str__(self):
        return f"Data partnership of {self.agency} with {self.partner}"

    def get_absolute_url(self):
        return reverse("partnerships:detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class IntakeBatch(models.Model):
    """Intakes the agency sent to its HMIS data partner at one moment. Counts
    only: the client data travels between the agencies as they agreed
    (secure email, fax, in person; seed 003), never through the portal."""

    partnership = models.ForeignKey(DataPartnership, on_delete=models.PROTECT, related_name="batches")
    received_at = models.DateTimeField("sent to the partner at")
    intake_count = models.PositiveIntegerField("intakes", validators=[MinValueValidator(1),
                                                                      MaxValueValidator(MAX_INTAKES)])
    reference = models.CharField(max_length=60, blank=True,
                                 help_text="A batch reference the two agencies agree on. No client names.")
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    recorded_at = models.DateTimeField()
    # Stored when recorded (the policy's business days then): the exclusive
    # end of the due day, and of the escalation day.
    due_at = models.DateTimeField("due")
    escalate_at = models.DateTimeField()
    entered_at = models.DateTimeField("entered into HMIS at", null=True, blank=True)
    entered_recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                            on_delete=models.SET_NULL, related_name="+")
    entered_recorded_at = models.DateTimeField(null=True, blank=True)
    entered_on_time = models.BooleanField(null=True, blank=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "intake batch"
        verbose_name_plural = "intake batches"
        constraints = [
            # A double submit of the same hand-over records it once.
            models.UniqueConstraint(fields=["partnership", "received_at"], name="one_batch_per_moment"),
        ]
        indexes = [
            # The sweep: batches past their deadline not yet flagged, or past the escalation day not yet escalated.
            models.Index(fields=["due_at", "id"], condition=Q(entered_at__isnull=True, overdue_notified_at__isnull=True),
                         name="intake_overdue_unflagged"),
            models.Index(fields=["escalate_at", "id"],
                         condition=Q(entered_at__isnull=True, escalated_at__isnull=True),
                         name="intake_escalation_pending"),
            # Overdue counts per partnership on the lists.
            models.Index(fields=["partnership", "due_at"], condition=Q(entered_at__isnull=True),
                         name="intake_open_by_partnership"),
        ]

    def __str__(self):
        return f"Intake batch {self.pk} ({self.intake_count} intake{'s' if self.intake_count != 1 else ''})"

    def get_absolute_url(self):
        return reverse("partnerships:detail", args=[self.partnership_id])

    def is_overdue(self, now) -> bool:
        return self.entered_at is None and self.due_at <= now
