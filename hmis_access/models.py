"""HMIS access: what a person needs to get into HMIS.

Access requests and their provisioning deadline (seed 000, step 3), and the
HMIS account a grant opens. The account's life after the grant (logins, the
inactivity rules of seed 002, reactivation) is `hmis_accounts`'; the account
row is made here because the grant makes it, in the grant's own transaction.
The tables kept their names from when these models lived in `accounts`, so a
database upgrades in place (migration 0001 moves only Django's state).
"""

import re
import secrets
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.functional import cached_property
from django.utils import timezone

from accounts.models import Organization, Persona, User
from hmis_portal.core.calendar import local_date
from hmis_portal.core.models import PolicyRow, day_list


# A provisioning deadline in hours longer than this is a typing mistake (a
# deadline that long is written in business days).
MAX_PROVISIONING_HOURS = 720


# The HMIS username the grant proposes (staff may type another), from the
# person's name and email by the CoC's rule: placeholders in braces, the rest
# as written, then lowercased, accents dropped and anything outside letters,
# digits, ".", "_" and "-" left out.
USERNAME_PLACEHOLDERS = {
    "email_local": "the email address before the @",
    "first": "the first word of the name",
    "last": "the last word of the name",
    "first_initial": "the first letter of the first word",
    "last_initial": "the first letter of the last word",
}
USERNAME_RULE_MAX = 60
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NOT_IN_USERNAME = re.compile(r"[^a-z0-9._-]+")


def validate_username_rule(value) -> None:
    """A username rule: text with at least one known placeholder in braces."""
    known = ", ".join(f"{{{name}}} ({what})" for name, what in USERNAME_PLACEHOLDERS.items())
    if not isinstance(value, str) or len(value) > USERNAME_RULE_MAX:
        raise ValidationError(f"Write the rule as text of at most {USERNAME_RULE_MAX} characters, like "
                              f"“{{first}}.{{last}}”.")
    if _PLACEHOLDER.sub("", value).count("{") or _PLACEHOLDER.sub("", value).count("}"):
        raise ValidationError(f"“{value}” has unmatched braces: each placeholder is a name in braces ({known}).")
    names = _PLACEHOLDER.findall(value)
    unknown = [name for name in names if name not in USERNAME_PLACEHOLDERS]
    if unknown:
        raise ValidationError(f"“{value}” uses {', '.join('{' + n + '}' for n in unknown)}, which the portal does "
                              f"not know; use {known}.")
    if not names:
        raise ValidationError(f"“{value}” would give everyone the same username: use at least one of {known}.")


def _plain(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return _NOT_IN_USERNAME.sub("", ascii_text.lower())


def hmis_username_from_rule(rule: str, *, full_name: str, email: str) -> str:
    """The username `rule` makes of a person (see USERNAME_PLACEHOLDERS). A
    rule that makes nothing of the name (a person without one) falls back to
    the email address before the @."""
    words = [_plain(word) for word in (full_name or "").split()]
    words = [word for word in words if word]
    email_local = _plain((email or "").split("@")[0])
    parts = {"email_local": email_local, "first": words[0] if words else "",
             "last": words[-1] if len(words) > 1 else "",
             "first_initial": words[0][:1] if words else "", "last_initial": words[-1][:1] if len(words) > 1 else ""}
    if not words and any(name != "email_local" for name in _PLACEHOLDER.findall(rule or "")):
        return email_local
    made = _plain(_PLACEHOLDER.sub(lambda m: parts.get(m.group(1), ""), rule or ""))
    return made.strip("._-")[:150] or email_local


class AccessPolicy(PolicyRow):
    """The CoC's numbers for user access and staying active (seed 000, seed 002).

    One row; CoC staff edit it in the admin. Loaded with LA's defaults.
    """

    # The provisioning deadline is counted one of two ways, exactly one of
    # these is set: business days (seed 000: "within 3 business days", by the
    # end of the Nth business day after the ready date, SPEC §4) or clock
    # hours (seed 004: "within 24 – 48 [hours]", elapsed hours from the moment
    # the request became ready, weekends included).
    provisioning_business_days = models.PositiveSmallIntegerField(
        default=3, null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Access is granted by the end of this many business days after a request becomes ready. "
                  "Leave empty when the deadline is in hours.",
    )
    provisioning_hours = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_PROVISIONING_HOURS)],
        help_text="Access is granted within this many hours (clock hours, weekends included) of a request "
                  "becoming ready. Leave empty when the deadline is in business days.",
    )
    # Seed 000 promises access "within 3 business days, dependent on the number
    # of account requests": the share of requests the CoC expects by the
    # deadline is its own choice, drawn as the provisioning chart's target.
    provisioning_target_percent = models.PositiveSmallIntegerField(
        default=90, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="The share of requests the CoC expects to be provisioned by the deadline; the provisioning "
                  "chart draws it as its target line and says each month whether it was met.",
    )
    inactive_after_days = models.PositiveSmallIntegerField(
        default=30, help_text="An HMIS account with no login for this many days becomes Inactive."
    )
    retraining_after_days = models.PositiveSmallIntegerField(
        default=90, help_text="With no login for this many days, the user must retake the basic training."
    )
    reminder_days_before = models.CharField(
        max_length=50,
        default="7,1",
        help_text="Days before going Inactive on which the user is reminded, comma-separated.",
    )
    # Seed 002: "We suggest you set a reminder to log in on the 1st and 15th of every month".
    login_reminder_days_of_month = models.CharField(
        max_length=50,
        default="1,15",
        help_text="Days of the month on which users who opt in are reminded to log in to HMIS, comma-separated.",
    )
    # Seed 002: after reactivation "you will need to log into your account within a limited time frame";
    # the seed names no length. SPEC §3.5: the window is policy, in hours, so that someone reactivated
    # late in the day still gets a fair window.
    reactivation_login_hours = models.PositiveSmallIntegerField(
        default=48,
        help_text="Hours after reactivation within which the user must log in to HMIS, or the account is "
                  "made Inactive again by the next nightly sweep.",
    )
    at_risk_within_days = models.PositiveSmallIntegerField(
        default=7,
        help_text="Agencies see a user as at risk this many days (or fewer) before going Inactive or needing retraining.",
    )
    # Seed 002: after 90 days "you will also have to retake the HMIS Basic
    # Navigation Training Series"; which courses that is, is the CoC's choice.
    retraining_courses = models.ManyToManyField(
        "training.Course", blank=True, related_name="+",
        help_text="Courses assigned again when retraining is required; all must be completed before reactivation.",
    )

    # Who asks for a person's HMIS access (seed 000 step 3.1: the Program
    # Manager or Agency Administrator; seed 003: the agency's Authorized
    # Representative submits the User Access Request; seed 004: the Agency
    # Administrator submits the User Request Form).
    access_requesters = models.CharField(
        "who may request access", max_length=200, default="program_manager,agency_administrator",
        help_text="The agency personas who may ask for a person's HMIS access, comma-separated "
                  "(executive_director, program_manager, agency_administrator, staff).",
    )
    # Seed 003: "After the UAR is approved, the new End User will receive
    # notification ... to submit the User Policy form, complete the trainings".
    access_requests_need_approval = models.BooleanField(
        "access requests need CoC approval", default=False,
        help_text="CoC staff approve (or decline) each new access request before the user's trainings and forms "
                  "start, and before the provisioning deadline can begin.",
    )

    # The HMIS username the grant form proposes (provisioning staff may type another).
    hmis_username_rule = models.CharField(
        "HMIS username rule", max_length=USERNAME_RULE_MAX, default="{email_local}",
        help_text="The username the grant form proposes, from the person's name and email: "
                  + ", ".join(f"{{{name}}} for {what}" for name, what in USERNAME_PLACEHOLDERS.items())
                  + ". Lowercased, without accents; a number is added when the username is taken.",
    )

    class Meta:
        db_table = "accounts_accesspolicy"
        verbose_name = verbose_name_plural = "access policy"
        constraints = [
            models.CheckConstraint(
                condition=(Q(provisioning_business_days__isnull=False, provisioning_hours__isnull=True)
                           | Q(provisioning_business_days__isnull=True, provisioning_hours__isnull=False)),
                name="provisioning_deadline_in_days_or_hours"),
        ]

    def __str__(self):
        return "Access policy"

    @cached_property
    def retraining_title(self) -> str:
        """The retraining courses by their titles, as people read them
        ("HMIS Basic Navigation Training Series" in LA)."""
        titles = [course.title for course in self.retraining_courses.all()]
        if not titles:
            return "the basic HMIS training"
        return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]

    @property
    def provisioning_in_hours(self) -> bool:
        """True when the provisioning deadline is clock hours from ready,
        False when it is the end of a business day."""
        return self.provisioning_hours is not None

    @property
    def provisioning_unit(self) -> str:
        """How provisioning times are counted, in the words people read."""
        return "hours" if self.provisioning_in_hours else "business days"

    @property
    def requester_personas(self) -> list[str]:
        """The personas of `access_requesters`, as stored (unknown ones dropped)."""
        parts = [part.strip() for part in self.access_requesters.split(",") if part.strip()]
        return [part for part in dict.fromkeys(parts) if part in Persona.values]

    @property
    def reminder_days(self) -> list[int]:
        return day_list(self.reminder_days_before, reverse=True)

    @property
    def login_reminder_days(self) -> list[int]:
        return [day for day in day_list(self.login_reminder_days_of_month) if 1 <= day <= 31]

    def clean(self):
        errors = {}
        if (self.provisioning_business_days is None) == (self.provisioning_hours is None):
            errors["provisioning_hours"] = ("Give the provisioning deadline either in business days or in hours, "
                                            "not both." if self.provisioning_hours is not None
                                            else "Give the provisioning deadline in business days or in hours.")
        for name in ("reminder_days_before", "login_reminder_days_of_month"):
            parts = [part.strip() for part in getattr(self, name).split(",") if part.strip()]
            if any(not part.isdigit() for part in parts):
                errors[name] = "Use whole numbers separated by commas, e.g. 7,1."
        if any(day >= self.inactive_after_days for day in self.reminder_days):
            errors["reminder_days_before"] = "Each reminder must come before the account goes Inactive."
        if self.retraining_after_days <= self.inactive_after_days:
            errors["retraining_after_days"] = "Retraining is required later than going Inactive."
        requesters = [part.strip() for part in self.access_requesters.split(",") if part.strip()]
        unknown = [part for part in requesters if part not in Persona.values]
        if unknown or not requesters:
            errors["access_requesters"] = (f"Unknown persona {', '.join(unknown)}; " if unknown else "") + \
                f"name one or more of {', '.join(Persona.values)}."
        try:
            validate_username_rule(self.hmis_username_rule)
        except ValidationError as error:
            errors["hmis_username_rule"] = error.messages
        if errors:
            raise ValidationError(errors)


def new_calendar_token() -> str:
    return secrets.token_urlsafe(24)


# What a calendar token can look like (token_urlsafe's alphabet, at most the
# column's length): anything else in a feed URL is refused before a query.
CALENDAR_TOKEN_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,64}")


class HMISAccount(models.Model):
    """A person's account in the CoC's HMIS, once provisioned.

    Created when provisioning staff grant access; its last HMIS login drives
    the inactivity rules of seed 002. The two "counted from" dates are the
    local dates (CoC time zone) the 30-day and 90-day clocks run from; they
    are kept by the services (login import, reactivation) so that the daily
    sweep finds what is due with one indexed range query (SPEC §4: last login
    on date D → Inactive on D+30, retraining on D+90).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"

    class InactiveReason(models.TextChoices):
        NO_LOGIN = "no_login", "No HMIS login within the inactivity limit"
        NO_LOGIN_AFTER_REACTIVATION = "no_login_after_reactivation", "No HMIS login in time after reactivation"
        MEMBERSHIP_ENDED = "membership_ended", "No longer with the agency"
        AGREEMENT_EXPIRED = "agreement_expired", "The agency's Organization Agreement is no longer in force"

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="hmis_account")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="hmis_accounts")
    hmis_username = models.CharField("HMIS username", max_length=150, unique=True)
    hmis_role = models.CharField("HMIS role", max_length=80)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    provisioned_at = models.DateTimeField(default=timezone.now)
    last_hmis_login_at = models.DateTimeField("last HMIS login", null=True, blank=True)

    # The 30-day clock: the latest of the last login's local date, the
    # provisioning date and the reactivation date.
    inactivity_counted_from = models.DateField(
        "inactivity counted from", help_text="Local date the no-login days are counted from (last login, "
        "provisioning or reactivation, whichever is latest)."
    )
    # The 90-day clock: the latest of the last login's local date, the
    # provisioning date and the last retraining (seed 002: 90 days without
    # a login). A reactivation without retraining does not restart it.
    retraining_counted_from = models.DateField(
        "retraining counted from", help_text="Local date the days towards retraining are counted from."
    )
    # Set on reactivation: the moment the policy's window ends, and its local
    # date, which the nightly sweep reads on its index (the first sweep after
    # that date makes the account Inactive again). Only meaningful while
    # must_log_in_by is set: a login or the sweep clears that one.
    must_log_in_before = models.DateTimeField(
        null=True, blank=True, help_text="Set on reactivation: the user must log in to HMIS before this moment.",
    )
    must_log_in_by = models.DateField(
        null=True, blank=True,
        help_text="The local date of 'must log in before': with no HMIS login by the end of it the nightly sweep "
                  "makes the account Inactive again.",
    )
    reactivated_at = models.DateTimeField(null=True, blank=True)
    inactive_since = models.DateTimeField(null=True, blank=True)
    inactive_reason = models.CharField(max_length=40, choices=InactiveReason.choices, blank=True)
    retraining_required = models.BooleanField(
        default=False, help_text="No login for the retraining limit: the basic training must be retaken before "
        "reactivation."
    )
    retraining_required_on = models.DateField(null=True, blank=True)
    retraining_courses = models.ManyToManyField(
        "training.Course", blank=True, related_name="+",
        help_text="The courses assigned when retraining became required (the policy's at that time).",
    )
    login_reminders = models.BooleanField(
        "login reminders", default=False,
        help_text="The user asked to be reminded to log in on the policy's days of the month.",
    )
    calendar_token = models.CharField(max_length=64, unique=True, default=new_calendar_token, editable=False)

    class Meta:
        db_table = "accounts_hmisaccount"
        ordering = ["hmis_username"]
        verbose_name = "HMIS account"
        indexes = [
            # Each sweep reads one of these partial indexes in key order, so a
            # day's due accounts are found without scanning the active ones.
            models.Index(fields=["inactivity_counted_from", "id"], name="hmis_inactivity_due",
                         condition=Q(status="active", must_log_in_by__isnull=True)),
            models.Index(fields=["must_log_in_by", "id"], name="hmis_reactivation_login_due",
                         condition=Q(status="active", must_log_in_by__isnull=False)),
            models.Index(fields=["retraining_counted_from", "id"], name="hmis_retraining_due",
                         condition=Q(retraining_required=False)),
            models.Index(fields=["id"], name="hmis_login_reminder_opt_in",
                         condition=Q(status="active", login_reminders=True)),
            # An agency's accounts by status (agency pages and dashboards).
            models.Index(fields=["organization", "status"], name="hmis_account_org_status"),
        ]

    def __str__(self):
        return self.hmis_username

    def save(self, *args, **kwargs):
        # Accounts created by provisioning (or a factory) start both clocks at
        # their last login or, before any, at the provisioning date.
        if self.inactivity_counted_from is None or self.retraining_counted_from is None:
            start = local_date(self.last_hmis_login_at or self.provisioned_at)
            if self.inactivity_counted_from is None:
                self.inactivity_counted_from = start
            if self.retraining_counted_from is None:
                self.retraining_counted_from = start
        super().save(*args, **kwargs)


class ProvisioningWork(models.Model):
    """What the provisioning queue and its deadline sweep need of any request
    CoC provisioning staff must act on within the policy's deadline
    (seed 000: "access in three (3) business days"; seed 004: "within 24 – 48"
    hours). Access requests use it; another kind of request (reactivations,
    in `hmis_accounts`) subclasses it and joins the queue by
    `hmis_access.provisioning.register_queue_model`."""

    ready_at = models.DateTimeField("ready for provisioning at", null=True, blank=True)
    # The moment the deadline is missed, set when the request becomes ready
    # (hmis_access.provisioning.provisioning_due): for a business-day deadline
    # the end of the due day (local midnight after it, calendar.end_of_day),
    # for an hour deadline ready_at plus the hours. Each subclass indexes it
    # for its queue and the deadline sweep.
    provisioning_due_at = models.DateTimeField("provisioning deadline", null=True, blank=True)
    provisioned_at = models.DateTimeField(null=True, blank=True)
    provisioned_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The local dates the deadline sweep last flagged it due today and last
    # escalated it overdue: its claims, so that two runs on one day act once
    # of each kind (an hour deadline can be both due and missed in one day).
    last_flagged_on = models.DateField(null=True, blank=True)
    last_escalated_on = models.DateField(null=True, blank=True)

    # Subclasses name themselves in the queue ("access request").
    queue_kind = "request"

    class Meta:
        abstract = True

    @classmethod
    def awaiting_provisioning(cls):
        """Rows that are ready and not yet provisioned (override when the
        subclass's statuses say so differently)."""
        return cls.objects.filter(ready_at__isnull=False, provisioned_at__isnull=True,
                                  provisioning_due_at__isnull=False)


class AccessRequest(ProvisioningWork):
    """A Program Manager or Agency Administrator asks for a person's HMIS
    access with one or more CES roles (seed 000, step 3). Its checklist is
    derived from the training policy; it becomes ready by itself when every
    item is met, never by someone ticking a box."""

    class Status(models.TextChoices):
        # Only where the CoC's policy has an approval step (seed 003).
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting CoC approval"
        OPEN = "open", "Gathering requirements"
        READY = "ready", "Ready for provisioning"
        PROVISIONED = "provisioned", "Access granted"
        WITHDRAWN = "withdrawn", "Withdrawn"
        DECLINED = "declined", "Declined by the CoC"

    LIVE = (Status.AWAITING_APPROVAL, Status.OPEN, Status.READY)
    queue_kind = "access request"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="access_requests")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_requests")
    new_hmis_user = models.BooleanField(
        "new HMIS user", default=True,
        help_text="New users also take the courses and sign the forms the CoC's policy asks of people new to HMIS."
    )
    roles = models.ManyToManyField("training.CESRole", related_name="access_requests")
    programs = models.ManyToManyField("onboarding.Program", blank=True, related_name="access_requests")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    requested_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # The CoC's approval (or decline), where its policy has that step.
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   verbose_name="approved or declined by")
    decided_at = models.DateTimeField("approved or declined at", null=True, blank=True)
    decline_reason = models.TextField(blank=True)
    hmis_username = models.CharField("HMIS username granted", max_length=150, blank=True)
    hmis_role = models.CharField("HMIS role granted", max_length=80, blank=True)

    class Meta:
        db_table = "accounts_accessrequest"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["user"],
                                    condition=models.Q(status__in=["awaiting_approval", "open", "ready"]),
                                    name="one_live_access_request_per_user"),
        ]
        indexes = [
            # The provisioning queue and the deadline sweep: ready requests by deadline.
            models.Index(fields=["provisioning_due_at", "id"], name="access_request_due",
                         condition=Q(status="ready")),
        ]

    def __str__(self):
        return f"HMIS access for {self.user} ({self.organization})"

    @classmethod
    def awaiting_provisioning(cls):
        return cls.objects.filter(status=cls.Status.READY)
