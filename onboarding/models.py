"""Steps 1 and 2 of seed 000: the Organization Agreement and HMIS program setup.

State changes happen only in `onboarding.services`; reads in
`onboarding.selectors`. The participation stage is derived from these rows,
never stored, so it cannot drift from the agreement and programs it sums up.
"""

import calendar
import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from hmis_portal.core.documents import RandomName, private_storage
from hmis_portal.core import cached
from hmis_portal.core.models import CachedRows, PolicyRow, day_list


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by whole months, clamped to the month's last day (Jan 31 + 1 → Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class HUDProjectType(models.IntegerChoices):
    """HMIS Data Standards (FY2026) 2.02.6 Project Type, with HUD's codes."""

    ES_ENTRY_EXIT = 0, "Emergency Shelter – Entry Exit"
    ES_NIGHT_BY_NIGHT = 1, "Emergency Shelter – Night-by-Night"
    TRANSITIONAL_HOUSING = 2, "Transitional Housing"
    PH_PERMANENT_SUPPORTIVE_HOUSING = 3, "PH – Permanent Supportive Housing"
    STREET_OUTREACH = 4, "Street Outreach"
    SERVICES_ONLY = 6, "Services Only"
    OTHER = 7, "Other"
    SAFE_HAVEN = 8, "Safe Haven"
    PH_HOUSING_ONLY = 9, "PH – Housing Only"
    PH_HOUSING_WITH_SERVICES = 10, "PH – Housing with Services (no disability required for entry)"
    DAY_SHELTER = 11, "Day Shelter"
    HOMELESSNESS_PREVENTION = 12, "Homelessness Prevention"
    PH_RAPID_RE_HOUSING = 13, "PH – Rapid Re-Housing"
    COORDINATED_ENTRY = 14, "Coordinated Entry"


class ReferralEvent(models.IntegerChoices):
    """HMIS Data Standards (FY2026) 4.20.2 Event: the Coordinated Entry
    referral events, with HUD's codes (1–9 are access events, not referrals)."""

    EMERGENCY_SHELTER = 10, "Referral to Emergency Shelter bed opening"
    TRANSITIONAL_HOUSING = 11, "Referral to Transitional Housing bed/unit opening"
    JOINT_TH_RRH = 12, "Referral to Joint TH-RRH project/unit/resource opening"
    RAPID_RE_HOUSING = 13, "Referral to RRH project resource opening"
    PERMANENT_SUPPORTIVE_HOUSING = 14, "Referral to PSH project resource opening"
    OTHER_PERMANENT_HOUSING = 15, "Referral to Other PH project/unit/resource opening"
    EMERGENCY_ASSISTANCE = 16, "Referral to emergency assistance/flex fund/furniture assistance"
    EMERGENCY_HOUSING_VOUCHER = 17, "Referral to Emergency Housing Voucher (EHV)"
    HOUSING_STABILITY_VOUCHER = 18, "Referral to a Housing Stability Voucher"


# The referral event of a referral to a program of each HUD project type
# (2.02.6 → 4.20.2). HUD has no project type for a joint TH-RRH resource
# (12), emergency assistance (16) or vouchers (17, 18): those program types
# name their event themselves (`ProgramType.hud_referral_event`). The other
# project types take no referral to an opening.
REFERRAL_EVENTS = {
    HUDProjectType.ES_ENTRY_EXIT: ReferralEvent.EMERGENCY_SHELTER,
    HUDProjectType.ES_NIGHT_BY_NIGHT: ReferralEvent.EMERGENCY_SHELTER,
    HUDProjectType.TRANSITIONAL_HOUSING: ReferralEvent.TRANSITIONAL_HOUSING,
    HUDProjectType.PH_RAPID_RE_HOUSING: ReferralEvent.RAPID_RE_HOUSING,
    HUDProjectType.PH_PERMANENT_SUPPORTIVE_HOUSING: ReferralEvent.PERMANENT_SUPPORTIVE_HOUSING,
    HUDProjectType.PH_HOUSING_ONLY: ReferralEvent.OTHER_PERMANENT_HOUSING,
    HUDProjectType.PH_HOUSING_WITH_SERVICES: ReferralEvent.OTHER_PERMANENT_HOUSING,
}


class ProgramType(CachedRows):
    """A kind of HMIS program involved in CES (seed 000, step 2). Rows, so a
    CoC with other program types (seed 003: rapid rehousing, financial
    assistance) adds its own. Kept in `core.cached` (`named`): the status
    list's filter offers them on every request, and they change a few times
    a year, by the admin or a policy pack."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    needs_setup_modification = models.BooleanField(
        default=True,
        help_text="Off for program types the implementation team need not modify (Permanent Housing in LA).",
    )
    # HUD's project type of the HMIS programs of this kind (HMIS Data
    # Standards 2.02.6): the referral event a referral to such a program is
    # reported as (4.20.2) follows from it.
    hud_project_type = models.PositiveSmallIntegerField(
        "HUD project type", choices=HUDProjectType.choices, null=True, blank=True,
        help_text="HMIS Data Standards 2.02.6. Referrals to programs of this type are reported to HUD as the "
                  "matching Coordinated Entry referral event; empty for a type no referral goes to.")
    # The 4.20.2 referral event, for the program types HUD's project types do
    # not tell apart (joint TH-RRH, emergency assistance, vouchers); empty,
    # it follows from the HUD project type.
    hud_referral_event = models.PositiveSmallIntegerField(
        "HUD referral event", choices=ReferralEvent.choices, null=True, blank=True,
        help_text="HMIS Data Standards 4.20.2. Empty: the event that follows from the HUD project type.")
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(hud_referral_event__isnull=True)
                | models.Q(hud_referral_event__gte=ReferralEvent.EMERGENCY_SHELTER,
                           hud_referral_event__lte=ReferralEvent.HOUSING_STABILITY_VOUCHER),
                name="program_type_hud_referral_event_10_18"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def named(cls) -> list[tuple[str, str]]:
        """(code, name) of every row, in the table's order, read once per
        request and kept until a row changes (`CachedRows`)."""
        return cached.read(cls.cache_name(), lambda: list(cls.objects.values_list("code", "name")))

    @property
    def referral_event(self) -> int | None:
        """The 4.20.2 event a referral to a program of this type is reported
        as: its own, or the one its HUD project type gives; None when no
        referral event fits."""
        if self.hud_referral_event is not None:
            return self.hud_referral_event
        event = REFERRAL_EVENTS.get(self.hud_project_type)
        return int(event) if event is not None else None


class CESOrganizationRole(CachedRows):
    """A role an organization plays in CES (seed 000, step 2.3): Assessment
    Only; Housing Navigation/Case Management; Housing Provider. Rows CoC staff
    edit; an organization names one or more. Kept in `core.cached` as program
    types are (`named`)."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    sort_order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True, help_text="Off to stop offering the role to agencies.")

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = "CES organization role"

    def __str__(self):
        return self.name

    @classmethod
    def named(cls) -> list[tuple[str, str]]:
        """(code, name) of every row, in the table's order, read once per
        request and kept until a row changes (`CachedRows`)."""
        return cached.read(cls.cache_name(), lambda: list(cls.objects.values_list("code", "name")))


class OrganizationCESRole(CachedRows):
    """That an organization plays a CES role, as named by its Program Manager."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="ces_roles")
    role = models.ForeignKey(CESOrganizationRole, on_delete=models.PROTECT, related_name="organizations")
    named_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    named_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["role__sort_order", "role__name"]
        verbose_name = "organization's CES role"
        constraints = [models.UniqueConstraint(fields=["organization", "role"], name="unique_ces_role_per_agency")]

    def __str__(self):
        return f"{self.organization}: {self.role}"


class OnboardingPolicy(PolicyRow):
    """The CoC's numbers for steps 1 and 2. One row; CoC staff edit it in the
    admin. LA's defaults: agreements have no term (seed 000 names none)."""

    agreement_term_months = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="How long an executed agreement lasts, in months. Empty: agreements do not expire. "
                  "(A CoC that renews every year uses 12.)",
    )
    renewal_reminder_days = models.CharField(
        max_length=50, default="60,30,7",
        help_text="Days before an agreement expires on which the agency is reminded to renew, comma-separated.",
    )
    status_list_public = models.BooleanField(
        "CES Participation Status List is public", default=False,
        help_text="On: anyone may see the list and its downloads without signing in.",
    )

    class Meta:
        verbose_name = verbose_name_plural = "onboarding policy"

    def __str__(self):
        return "Onboarding policy"

    @property
    def reminder_days(self) -> list[int]:
        return day_list(self.renewal_reminder_days, reverse=True)

    def expiry_for(self, executed_on: dt.date) -> dt.date | None:
        """The last day an agreement executed on `executed_on` is in force."""
        if not self.agreement_term_months:
            return None
        return add_months(executed_on, self.agreement_term_months) - dt.timedelta(days=1)


class OrganizationAgreement(CachedRows):
    """An organization's HMIS Organization Agreement (seed 000, step 1).

    The Executive Director or Authorized Representative signs their section and
    uploads the scan; CoC staff countersign the CoC Representative section
    (executed) or return it with a reason. Each upload is kept as an
    `AgreementCopy`; a returned agreement gets a corrected copy and is
    submitted again. A renewal is a new agreement (`renewal_of` the old one).
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (not yet submitted)"
        SUBMITTED = "submitted", "Submitted, awaiting CoC countersignature"
        RETURNED = "returned", "Returned to the agency for correction"
        EXECUTED = "executed", "Executed"
        EXPIRED = "expired", "Expired"
        # Ended by CoC staff before its term (the agency left the CoC, or
        # broke the agreement): like an expiry, no longer in force.
        TERMINATED = "terminated", "Terminated by the CoC"

    # An agency has at most one agreement being worked on at a time.
    OPEN_STATUSES = (Status.DRAFT, Status.SUBMITTED, Status.RETURNED)

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="agreements")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)
    renewal_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="renewals")
    # The Executive Director / Authorized Representative section, as on the current copy.
    signer_name = models.CharField("signed by", max_length=150, blank=True)
    signer_title = models.CharField("signer's title", max_length=150, blank=True)
    signed_on = models.DateField("signing date", null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    submitted_at = models.DateTimeField(null=True, blank=True)
    # The CoC Representative section.
    countersigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+",
                                         verbose_name="countersigned by (CoC Representative)")
    countersigned_at = models.DateTimeField(null=True, blank=True)
    returned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    returned_at = models.DateTimeField(null=True, blank=True)
    return_reason = models.TextField(blank=True, help_text="What the agency must correct; the agency sees it.")
    expires_on = models.DateField(null=True, blank=True,
                                  help_text="Last day in force; empty when the CoC's policy sets no term.")
    expired_at = models.DateTimeField(null=True, blank=True)
    terminated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")
    terminated_at = models.DateTimeField(null=True, blank=True)
    termination_reason = models.TextField(blank=True, help_text="Why the CoC ended it; the agency sees it.")
    status_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "organization agreement"
        permissions = [("countersign_organizationagreement", "Can countersign or return organization agreements")]
        constraints = [
            # A second agreement while one is pending is refused by the
            # service; this makes two racing uploads unable to both succeed.
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(status__in=["draft", "submitted", "returned"]),
                name="one_open_agreement_per_agency",
            )
        ]

    def __str__(self):
        return f"Organization Agreement #{self.pk} — {self.organization}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def in_force_on(self, day: dt.date) -> bool:
        return self.status == self.Status.EXECUTED and (self.expires_on is None or self.expires_on >= day)

    @property
    def current_copy(self):
        copies = list(self.copies.all())
        return max(copies, key=lambda c: c.version) if copies else None


class AgreementTemplate(models.Model):
    """A version of the blank Organization Agreement, uploaded by the CoC's
    implementation team: what the Executive Director downloads and signs. A new
    version leaves agreements signed on earlier ones in force; with
    `resign_required`, agreements awaiting countersignature on an earlier
    version are returned to be signed on the new one
    (`onboarding.services.agreement_template_upload`)."""

    version = models.PositiveIntegerField(unique=True)
    document = models.FileField(storage=private_storage, upload_to=RandomName("agreement-templates"))
    sha256 = models.CharField("SHA-256", max_length=64)
    resign_required = models.BooleanField("signed copies of earlier versions must be signed again", default=False)
    note = models.CharField(max_length=300, blank=True, help_text="What changed in this version.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]
        verbose_name = "blank agreement version"

    def __str__(self):
        return f"Organization Agreement (blank, version {self.version})"

    @classmethod
    def current(cls):
        return cls.objects.order_by("-version").first()


class AgreementCopy(models.Model):
    """One uploaded scan of an agreement. Never replaced or deleted: a
    corrected copy is a new version, so the history of what was signed stays."""

    agreement = models.ForeignKey(OrganizationAgreement, on_delete=models.CASCADE, related_name="copies")
    version = models.PositiveSmallIntegerField()
    document = models.FileField(storage=private_storage, upload_to=RandomName("agreements"), max_length=200)
    signer_name = models.CharField("signed by", max_length=150)
    signer_title = models.CharField("signer's title", max_length=150)
    signed_on = models.DateField("signing date")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    size = models.PositiveIntegerField(default=0)
    # The blank version current when the copy was uploaded: the one the signer was given.
    template = models.ForeignKey(AgreementTemplate, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="copies")

    class Meta:
        ordering = ["agreement", "-version"]
        verbose_name = "agreement copy"
        verbose_name_plural = "agreement copies"
        constraints = [models.UniqueConstraint(fields=["agreement", "version"], name="unique_agreement_copy_version")]

    def __str__(self):
        return f"Copy {self.version} of agreement #{self.agreement_id}"


class Program(CachedRows):
    """An agency's HMIS program linked to CES, and its setup request (seed 000,
    step 2.4–2.5): requested by the Program Manager, worked by the CoC's
    implementation team, confirmed by the Program Manager."""

    class SetupStatus(models.TextChoices):
        REQUESTED = "requested", "Requested"
        IN_PROGRESS = "in_progress", "Setup in progress"
        NEEDS_INFORMATION = "needs_information", "Needs information from the agency"
        SETUP_COMPLETE = "setup_complete", "Setup complete, awaiting the agency's confirmation"
        CONFIRMED = "confirmed", "Confirmed"

    class RequestKind(models.TextChoices):
        CREATE = "create", "Create a new HMIS program"
        MODIFY = "modify", "Modify an existing HMIS program"

    # Waiting on the CoC's implementation team.
    COC_STATUSES = (SetupStatus.REQUESTED, SetupStatus.IN_PROGRESS)
    # Waiting on the agency's Program Manager.
    AGENCY_STATUSES = (SetupStatus.NEEDS_INFORMATION, SetupStatus.SETUP_COMPLETE)

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="programs")
    name = models.CharField(max_length=200)
    program_type = models.ForeignKey(ProgramType, on_delete=models.PROTECT, related_name="programs")
    created_at = models.DateTimeField(default=timezone.now)
    request_kind = models.CharField(max_length=10, choices=RequestKind.choices, default=RequestKind.CREATE)
    existing_hmis_program = models.CharField(
        "existing HMIS program name or ID", max_length=200, blank=True,
        help_text="For a modification: the program as it is named in HMIS today.")
    details = models.TextField("what the program does", blank=True)
    setup_status = models.CharField(max_length=20, choices=SetupStatus.choices, default=SetupStatus.REQUESTED,
                                    db_index=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    question = models.TextField(blank=True, help_text="The implementation team's open question to the agency.")
    answer = models.TextField(blank=True, help_text="The Program Manager's answer to the last question.")
    hmis_program_id = models.CharField("HMIS program ID", max_length=100, blank=True)
    setup_completed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                           on_delete=models.SET_NULL, related_name="+")
    setup_completed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["organization__name", "name"]
        verbose_name = "program (setup request)"
        verbose_name_plural = "programs (setup requests)"
        permissions = [("work_program_setup", "Can work the program setup queue")]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="unique_program_name_per_agency")]

    def __str__(self):
        return f"{self.name} ({self.organization})"


class ParticipationStage(models.TextChoices):
    """An organization's place in steps 1–2 (derived; see selectors.participation_stage)."""

    NOT_STARTED = "not_started", "Not started"
    # Step 1 under way: the Executive Director keeps a signed copy as a draft
    # and has not submitted it yet (it was counted as not started).
    AGREEMENT_DRAFT = "agreement_draft", "Agreement in draft"
    AGREEMENT_SUBMITTED = "agreement_submitted", "Agreement submitted"
    # Waits on the agency's Executive Director, not on the CoC.
    AGREEMENT_RETURNED = "agreement_returned", "Agreement returned for correction"
    AGREEMENT_EXECUTED = "agreement_executed", "Agreement executed"
    PROGRAM_SETUP = "program_setup", "Program setup in progress"
    PARTICIPATING = "participating", "Participating"
    AGREEMENT_EXPIRED = "agreement_expired", "Agreement expired (renewal needed)"
    AGREEMENT_TERMINATED = "agreement_terminated", "Agreement terminated by the CoC"

    @property
    def badge(self) -> str:
        """Bootstrap's badge colour for the stage, as `onboarding/_stage_badge.html` draws it."""
        return STAGE_BADGES.get(self, "text-bg-info")


STAGE_BADGES = {
    ParticipationStage.PARTICIPATING: "text-bg-success",
    ParticipationStage.AGREEMENT_RETURNED: "text-bg-warning",
    ParticipationStage.NOT_STARTED: "text-bg-secondary",
    ParticipationStage.AGREEMENT_EXPIRED: "text-bg-secondary",
    ParticipationStage.AGREEMENT_TERMINATED: "text-bg-secondary",
}


class JoinRequest(models.Model):
    """An organization asking to take part in HMIS for CES (seed 000, before
    step 1), from the public "Join HMIS" page. The implementation team
    accepts it (the agency is created and its Executive Director and Program
    Manager invited) or declines it with a reason."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    organization_name = models.CharField(max_length=200)
    contact_name = models.CharField("contact's name", max_length=150,
                                    help_text="The Executive Director or Authorized Representative.")
    contact_email = models.EmailField("contact's email")
    phone = models.CharField(max_length=40, blank=True)
    ces_roles = models.ManyToManyField(CESOrganizationRole, blank=True, related_name="+",
                                       verbose_name="CES roles it expects")
    note = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decline_reason = models.TextField(blank=True)
    program_manager_email = models.EmailField(blank=True)
    organization = models.ForeignKey("accounts.Organization", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", help_text="The agency created on acceptance.")
    # The address the public page was sent from, as a keyed hash (never the
    # address itself): what the page's limit per address counts.
    client_key = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        indexes = [models.Index(fields=["client_key", "created_at"], name="join_request_client_recent")]
        ordering = ["status", "created_at"]
        verbose_name = "request to join"
        verbose_name_plural = "requests to join"
        constraints = [
            # One waiting request per organization and contact: the same form
            # sent twice at once (a double click) cannot make two.
            models.UniqueConstraint(Lower("organization_name"), Lower("contact_email"),
                                    condition=models.Q(status="requested"),
                                    name="one_waiting_join_request_per_contact"),
        ]

    def __str__(self):
        return f"{self.organization_name} (request to join)"
