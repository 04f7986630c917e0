from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.text import slugify


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, email):
        # People type their address in any case; it is stored lower-cased.
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in to the portal: agency staff or CoC staff.

    CoC staff have is_staff and belong to CoC staff groups; agency staff have
    memberships in one or more organizations.
    """

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150)
    is_staff = models.BooleanField(
        "CoC staff", default=False, help_text="May sign in to the admin (CoC staff only)."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name", "email"]

    def __str__(self):
        return self.full_name or self.email

    def get_full_name(self):
        return self.full_name

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Organization(models.Model):
    """An agency that takes part, or wants to take part, in HMIS for CES."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = "organization (agency)"
        verbose_name_plural = "organizations (agencies)"

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slugify(self.name)[:200]
        super().save(*args, **kwargs)


class Persona(models.TextChoices):
    """What an agency's person does in the CoC's process (SPEC §2)."""

    EXECUTIVE_DIRECTOR = "executive_director", "Executive Director / Authorized Representative"
    PROGRAM_MANAGER = "program_manager", "Program Manager"
    AGENCY_ADMINISTRATOR = "agency_administrator", "Agency Administrator"
    STAFF = "staff", "Staff (end user)"


class Membership(models.Model):
    """A person's persona at an agency. Someone who is both Program Manager and
    Agency Administrator has two memberships."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    persona = models.CharField(max_length=32, choices=Persona.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organization__name", "user__full_name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization", "persona"], name="unique_membership_persona")
        ]

    def __str__(self):
        return f"{self.user} — {self.get_persona_display()} at {self.organization}"


class CoCGroup(models.TextChoices):
    """CoC staff groups, created by a migration with their admin permissions."""

    IMPLEMENTATION = "CoC implementation", "CoC implementation team"
    TRAINING = "CoC training", "CoC training staff"
    PROVISIONING = "CoC provisioning", "CoC provisioning staff"
    CES_TEAM = "CES team", "CES team (matchers)"
    SYSTEM_ADMIN = "CoC system admin", "CoC system administrators"


class AccessPolicy(models.Model):
    """The CoC's numbers for user access and staying active (seed 000, seed 002).

    One row; CoC staff edit it in the admin. Loaded with LA's defaults.
    """

    provisioning_business_days = models.PositiveSmallIntegerField(
        default=3, help_text="Access is granted within this many business days of a request becoming ready."
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

    class Meta:
        verbose_name = verbose_name_plural = "access policy"

    def __str__(self):
        return "Access policy"

    @classmethod
    def current(cls) -> "AccessPolicy":
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy

    @property
    def reminder_days(self) -> list[int]:
        return sorted({int(part) for part in self.reminder_days_before.split(",") if part.strip().isdigit()},
                      reverse=True)


class HMISAccount(models.Model):
    """A person's account in the CoC's HMIS, once provisioned.

    Created when provisioning staff grant access; its last HMIS login drives
    the inactivity rules of seed 002.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="hmis_account")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="hmis_accounts")
    hmis_username = models.CharField("HMIS username", max_length=150, unique=True)
    hmis_role = models.CharField("HMIS role", max_length=80)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    provisioned_at = models.DateTimeField(default=timezone.now)
    last_hmis_login_at = models.DateTimeField("last HMIS login", null=True, blank=True)

    class Meta:
        ordering = ["hmis_username"]
        verbose_name = "HMIS account"

    def __str__(self):
        return self.hmis_username


class ProvisioningWork(models.Model):
    """What the provisioning queue and its deadline sweep need of any request
    CoC provisioning staff must act on within the policy's business days
    (seed 000: "access in three (3) business days"). Access requests use it;
    another kind of request (reactivations) subclasses it and is listed in
    `accounts.provisioning.QUEUE_MODELS`."""

    ready_at = models.DateTimeField("ready for provisioning at", null=True, blank=True)
    provisioning_due_on = models.DateField("provisioning deadline", null=True, blank=True, db_index=True)
    provisioned_at = models.DateTimeField(null=True, blank=True)
    provisioned_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The local date the deadline sweep last flagged or escalated it: its
    # claim, so that two runs on one day act once.
    last_flagged_on = models.DateField(null=True, blank=True)

    # Subclasses name themselves in the queue ("access request").
    queue_kind = "request"

    class Meta:
        abstract = True

    @classmethod
    def awaiting_provisioning(cls):
        """Rows that are ready and not yet provisioned (override when the
        subclass's statuses say so differently)."""
        return cls.objects.filter(ready_at__isnull=False, provisioned_at__isnull=True,
                                  provisioning_due_on__isnull=False)


class AccessRequest(ProvisioningWork):
    """A Program Manager or Agency Administrator asks for a person's HMIS
    access with one or more CES roles (seed 000, step 3). Its checklist is
    derived from the training policy; it becomes ready by itself when every
    item is met, never by someone ticking a box."""

    class Status(models.TextChoices):
        OPEN = "open", "Gathering requirements"
        READY = "ready", "Ready for provisioning"
        PROVISIONED = "provisioned", "Access granted"
        WITHDRAWN = "withdrawn", "Withdrawn"

    LIVE = (Status.OPEN, Status.READY)
    queue_kind = "access request"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="access_requests")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_requests")
    new_hmis_user = models.BooleanField(
        "new HMIS user", default=True, help_text="New users take HMIS 10 and sign the HMIS 10 Acknowledgement."
    )
    roles = models.ManyToManyField("training.CESRole", related_name="access_requests")
    programs = models.ManyToManyField("onboarding.Program", blank=True, related_name="access_requests")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    requested_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    hmis_username = models.CharField("HMIS username granted", max_length=150, blank=True)
    hmis_role = models.CharField("HMIS role granted", max_length=80, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=models.Q(status__in=["open", "ready"]),
                                    name="one_live_access_request_per_user"),
        ]

    def __str__(self):
        return f"HMIS access for {self.user} ({self.organization})"

    @classmethod
    def awaiting_provisioning(cls):
        return cls.objects.filter(status=cls.Status.READY)
