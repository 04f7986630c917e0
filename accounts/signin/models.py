from django.core.validators import MinValueValidator
from django.db import models

from hmis_portal.core.models import PolicyRow


class SignInPolicy(PolicyRow):
    """The CoC's sign-in rules. CoC staff always sign in with two factors; the
    CoC decides whether agency users must too, and how long a session may sit
    idle."""

    require_two_factor_for_agency_users = models.BooleanField(
        default=False,
        help_text="Agency users must set up an authenticator app and enter its code at every sign-in. "
                  "When off, they may still turn it on for themselves.",
    )
    idle_timeout_minutes = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(5)],
        help_text="A signed-in person who does nothing for this long is signed out.",
    )
    idle_warning_minutes = models.PositiveIntegerField(
        default=2, validators=[MinValueValidator(1)],
        help_text="How long before that the page warns them, with a button to stay signed in.",
    )

    invitation_days = models.PositiveIntegerField(
        default=14, validators=[MinValueValidator(1)],
        help_text="How long the link in an email inviting someone to the portal works; a resent invitation "
                  "gets a new link for as long again.",
    )

    class Meta:
        verbose_name = "sign-in policy"
        verbose_name_plural = "sign-in policy"

    def __str__(self):
        return "Sign-in policy"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.idle_warning_minutes >= self.idle_timeout_minutes:
            raise ValidationError({"idle_warning_minutes": "The warning must come before the idle timeout."})
