"""CES referrals, their need statuses and timeliness standards (seed 001, SPEC §3.4 and §4).

A referral sends one client (by HMIS client ID) to a housing provider's
program. Its need status is the communication between the provider and the
CES team ("Referral Need Statuses are the primary communication mechanism to
track progress through Coordinated Entry", seed 001); every change is a
`ReferralTransition` row (HMIS's service transaction) written by
`referrals.services`.

Timeliness is stored, not computed on read: when a referral enters a status,
its `due_at` (the status's standard) and `escalate_at` (plus the CES team's
escalation margin) are written on the row, so the counts report, the overdue
list and the sweep are plain indexed range queries whatever the number of
referrals.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from hmis_portal.core.inputs import single_line_problem
from hmis_portal.core.models import PolicyRow

# HUD's S32: the longest identifier an HMIS CSV column holds.
CE_ENROLLMENT_ID_MAX = 32
# Characters the HMIS CSV specification excludes from every export.
HUD_EXCLUDED_CHARACTERS = "<>[]{}"


def validate_ce_enrollment_id(value: str) -> None:
    """An HMIS EnrollmentID as HUD's Event.csv carries it: at most 32
    characters, none of `< > [ ] { }`, no line breaks."""
    if len(value) > CE_ENROLLMENT_ID_MAX:
        raise ValidationError(
            f"The CE enrollment ID is {len(value)} characters long; HUD's files hold at most {CE_ENROLLMENT_ID_MAX}.",
            code="max_length")
    excluded = sorted({c for c in value if c in HUD_EXCLUDED_CHARACTERS}, key=HUD_EXCLUDED_CHARACTERS.index)
    if excluded:
        raise ValidationError(
            f"The CE enrollment ID may not contain {' '.join(excluded)}: HUD's files exclude < > [ ] {{ }}. "
            "Copy the ID exactly as the HMIS shows it.", code="excluded_characters")
    problem = single_line_problem(value)
    if problem:
        raise ValidationError(problem, code="single_line")


class NeedStatus(models.Model):
    """A referral need status and its timeliness standard. Rows CoC staff edit;
    the LA defaults are loaded by migration 0002."""

    class SetBy(models.TextChoices):
        HOUSING_PROVIDER = "provider", "Housing provider (or the CES team)"
        CES_TEAM = "ces_team", "CES team only"

    class DayKind(models.TextChoices):
        BUSINESS = "business", "Business days"
        CALENDAR = "calendar", "Calendar days"

    class CountedFrom(models.TextChoices):
        STATUS_ENTERED = "status", "Entering this status"
        REFERRAL_DATE = "referral", "The referral date"

    class ReferralResult(models.IntegerChoices):
        # HUD Data Standards 4.20.D, Coordinated Entry Event: referral result.
        CLIENT_ACCEPTED = 1, "Successful referral: client accepted"
        CLIENT_REJECTED = 2, "Unsuccessful referral: client rejected"
        PROVIDER_REJECTED = 3, "Unsuccessful referral: provider rejected"

    code = models.SlugField(max_length=50, unique=True, help_text="Stable identifier; do not change.")
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    set_by = models.CharField("who may set it", max_length=10, choices=SetBy.choices,
                              default=SetBy.HOUSING_PROVIDER)
    is_initial = models.BooleanField(
        default=False, help_text="New referrals start here. Exactly one status is initial.")
    standard_days = models.PositiveSmallIntegerField(
        "timeliness standard (days)", null=True, blank=True,
        help_text="The referral must leave this status within this many days. Empty: no standard.")
    day_kind = models.CharField("days are", max_length=10, choices=DayKind.choices, default=DayKind.BUSINESS)
    counted_from = models.CharField(max_length=10, choices=CountedFrom.choices,
                                    default=CountedFrom.STATUS_ENTERED)
    is_final = models.BooleanField(
        default=False, help_text="The referral is closed in this status (no further changes, no deadline).")
    returns_to_matching = models.BooleanField(
        default=False, help_text="The client goes back to the CES team, which re-refers them.")
    requires_reason = models.BooleanField(default=False, help_text="A note saying why is required.")
    referral_result = models.PositiveSmallIntegerField(
        "HUD 4.20.D referral result", choices=ReferralResult.choices, null=True, blank=True,
        help_text="Required for final statuses. 'Client accepted' statuses require the enrollment date.")
    allowed_next = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="allowed_from", verbose_name="statuses allowed next")
    no_response_status = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name="when the provider does not respond, move to",
        help_text="When a referral is still in this status at the escalation margin, the sweep moves it here.")
    sort_order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(
        default=True, help_text="Off to stop offering the status; referrals already in it keep it and can leave it.")

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = "need status"
        verbose_name_plural = "need statuses"
        constraints = [
            models.UniqueConstraint(fields=["is_initial"], condition=Q(is_initial=True), name="one_initial_need_status"),
        ]

    def __str__(self):
        return self.name

    @property
    def ces_team_only(self) -> bool:
        return self.set_by == self.SetBy.CES_TEAM

    @property
    def accepts_client(self) -> bool:
        return self.referral_result == self.ReferralResult.CLIENT_ACCEPTED

    def clean(self):
        if self.is_final and self.referral_result is None:
            raise ValidationError({"referral_result": "A final status needs its HUD 4.20.D referral result."})
        if self.is_final and self.standard_days is not None:
            raise ValidationError({"standard_days": "A final status has no timeliness standard."})

    def standard_label(self) -> str:
        if self.standard_days is None:
            return "No standard"
        kind = "business" if self.day_kind == self.DayKind.BUSINESS else "calendar"
        start = "of entering the status" if self.counted_from == self.CountedFrom.STATUS_ENTERED else "of the referral"
        return f"Within {self.standard_days} {kind} day{'s' if self.standard_days != 1 else ''} {start}"


class ReferralPolicy(PolicyRow):
    """The CoC's numbers for referral timeliness. One row, edited in the admin."""

    escalation_margin_days = models.PositiveSmallIntegerField(
        default=2, help_text="Business days after a referral becomes overdue at which the CES team is alerted "
                             "(and, where the status says so, the referral is moved).")
    due_soon_days = models.PositiveSmallIntegerField(
        default=2, help_text="A referral is 'due soon' when its deadline is within this many calendar days.")
    sweep_batch_size = models.PositiveIntegerField(
        default=500, help_text="At most this many referrals are alerted per sweep run; the next run continues.")
    timeliness_target_percent = models.PositiveSmallIntegerField(
        default=80, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="The share of need-status changes the CoC expects within their standard; the timeliness "
                  "chart draws it as its target line and says each month whether it was met.")

    class Meta:
        verbose_name = verbose_name_plural = "referral policy"

    def __str__(self):
        return "Referral policy"


class Referral(models.Model):
    """One client referred by the CES team to a housing provider's program.

    Only what the provider needs to reach the client is stored (SPEC §3.4:
    "store no more personal data than the workflow needs"): the HMIS client
    ID, the name the client goes by, and how to reach them.
    """

    program = models.ForeignKey("onboarding.Program", on_delete=models.PROTECT, related_name="referrals")
    hmis_client_id = models.CharField("HMIS client ID", max_length=32)
    # The client's Coordinated Entry project enrollment in the HMIS (HUD's
    # EnrollmentID): the HMIS, not the portal, makes it; the CES team types
    # it here, and Event.csv reports the referral under it. Its characters are
    # checked by the one service that records it (`validate_ce_enrollment_id`),
    # not by a field validator, which the migration would have to import.
    ce_enrollment_id = models.CharField(
        "CE enrollment ID", max_length=CE_ENROLLMENT_ID_MAX, blank=True, default="", db_default="",
        help_text="The client's Coordinated Entry project enrollment ID in the HMIS. HUD's Event.csv reports "
                  "the referral under it; a referral without one is left out of that file.")
    contact_name = models.CharField("name the client goes by", max_length=120)
    contact_phone = models.CharField("phone", max_length=40, blank=True)
    contact_email = models.EmailField("email", blank=True)
    contact_notes = models.TextField(
        "how to reach the client", blank=True,
        help_text="Where and when the client can be found, or who (navigator, case manager) can reach them.")
    status = models.ForeignKey(NeedStatus, on_delete=models.PROTECT, related_name="referrals",
                               verbose_name="need status")
    status_entered_at = models.DateTimeField(default=timezone.now)
    referred_at = models.DateTimeField(default=timezone.now)
    referred_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    # Denormalized from status.is_final so that "open" is a column the partial
    # indexes and the one-open-referral constraint can use.
    is_open = models.BooleanField(default=True)
    due_at = models.DateTimeField("due", null=True, blank=True)
    escalate_at = models.DateTimeField(null=True, blank=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    enrollment_date = models.DateField(null=True, blank=True)
    move_in_date = models.DateField("housing move-in date", null=True, blank=True)
    transfer_requested_at = models.DateTimeField(null=True, blank=True)
    transfer_requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                              on_delete=models.SET_NULL, related_name="+")
    transfer_reason = models.TextField(blank=True)
    rereferred_from = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL,
                                           related_name="rereferral")
    closed_at = models.DateTimeField(null=True, blank=True)
    # Returned to the CES team (a status that returns to matching, or a
    # transfer request, seed 001) and not yet re-referred. Kept by the
    # services rather than computed on read, so the CES team's "returned for
    # re-referral" queue and count read a small partial index instead of
    # every referral ever made.
    awaiting_rereferral = models.BooleanField(default=False, db_default=False, editable=False)
    # Every change bumps it; forms carry the version they were loaded with so
    # a stale page changes nothing (two people working one referral).
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-referred_at", "-id"]
        constraints = [
            # SPEC §3.4: a client has at most one open referral per program.
            models.UniqueConstraint(fields=["program", "hmis_client_id"], condition=Q(is_open=True),
                                    name="one_open_referral_per_client_program"),
        ]
        # Each index names the query it serves; benchmarks/referrals.py prints
        # the plan of each of those queries and checks the index is used.
        indexes = [
            # Counts report: open referrals grouped by program and status, with
            # due-soon/overdue counts from due_at (index-only scan, COUNT(*)).
            models.Index(fields=["program", "status", "due_at"], condition=Q(is_open=True),
                         name="referral_open_counts"),
            # Open and overdue lists, most late first, a page at a time (keyset on due_at, id).
            models.Index(fields=["due_at", "id"], condition=Q(is_open=True), name="referral_open_due"),
            # Closed list, most recently closed first (keyset on closed_at, id).
            models.Index(fields=["closed_at", "id"], condition=Q(is_open=False), name="referral_closed"),
            # Returned for re-referral: the CES team's queue and its count.
            models.Index(fields=["status_entered_at", "id"], condition=Q(awaiting_rereferral=True),
                         name="referral_awaiting_rereferral"),
            # The sweep: what became overdue or reached the escalation margin and was not yet alerted.
            models.Index(fields=["due_at"], condition=Q(is_open=True, overdue_notified_at__isnull=True),
                         name="referral_overdue_unnotified"),
            models.Index(fields=["escalate_at"], condition=Q(is_open=True, escalated_at__isnull=True),
                         name="referral_escalation_pending"),
            # Finding a client's referrals by HMIS client ID (the list's search).
            models.Index(fields=["hmis_client_id"], name="referral_client"),
        ]

    def __str__(self):
        return f"Referral {self.pk} of client {self.hmis_client_id} to {self.program.name}"

    def get_absolute_url(self):
        return reverse("referrals:detail", args=[self.pk])

    def is_overdue(self, now=None) -> bool:
        return bool(self.is_open and self.due_at and self.due_at <= (now or timezone.now()))

    @property
    def rereferred(self) -> bool:
        try:
            return self.rereferral is not None
        except Referral.DoesNotExist:
            return False



class ReferralTransition(models.Model):
    """One need-status change: HMIS's service transaction. The referral's full
    history, and the facts the monthly timeliness figure is computed from."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.ForeignKey(NeedStatus, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_status = models.ForeignKey(NeedStatus, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", help_text="Empty when a scheduled job acted.")
    made_at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)
    # Timeliness of leaving `from_status`: the deadline that was in force, and
    # whether this change met it (empty when that status had no standard).
    from_due_at = models.DateTimeField(null=True, blank=True)
    within_standard = models.BooleanField(null=True)
    days_in_status = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["made_at", "id"]
        indexes = [models.Index(fields=["referral", "made_at"], name="referral_transition_history"),
                   models.Index(fields=["made_at"], name="referral_transition_made")]

    def __str__(self):
        return f"{self.from_status or '—'} → {self.to_status}"

    @property
    def actor_label(self):
        return str(self.actor) if self.actor_id else "Scheduled job"
