from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.text import slugify

from hmis_portal.core.models import CachedRows


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


class Organization(CachedRows):
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

    @classmethod
    def event_state_choices(cls):
        """The personas an agency's history names (who was invited, added or removed as what)."""
        return Persona.choices


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


class Invitation(models.Model):
    """An email asking someone to join an agency's people with a persona.

    Only a hash of the link's token is stored: the link works once, until it
    expires or is revoked; resending makes a new link (the old one stops
    working). Accepting sets the person's password and adds the membership."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    email = models.EmailField()
    full_name = models.CharField(max_length=150, blank=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    persona = models.CharField(max_length=32, choices=Persona.choices)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Two clicks on "Invite" make one invitation (the second resends it).
            models.UniqueConstraint(fields=["organization", "email", "persona"],
                                    condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                                    name="one_open_invitation_per_persona"),
        ]

    def __str__(self):
        return f"{self.email} as {self.get_persona_display()} at {self.organization}"

    def status_on(self, moment) -> "Invitation.Status":
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.revoked_at:
            return self.Status.REVOKED
        if self.expires_at <= moment:
            return self.Status.EXPIRED
        return self.Status.PENDING

    @property
    def status(self) -> "Invitation.Status":
        return self.status_on(timezone.now())
