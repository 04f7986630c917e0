from django.db import models
from django.utils import timezone


class ProgramType(models.Model):
    """A kind of HMIS program involved in CES (seed 000, step 2). Rows, so a
    CoC with other program types (seed 003: rapid rehousing, financial
    assistance) adds its own."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    needs_setup_modification = models.BooleanField(
        default=True,
        help_text="Off for program types the implementation team need not modify (seed 000: Permanent Housing).",
    )
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self):
        return self.name


class Program(models.Model):
    """An agency's HMIS program linked to CES."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="programs")
    name = models.CharField(max_length=200)
    program_type = models.ForeignKey(ProgramType, on_delete=models.PROTECT, related_name="programs")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="unique_program_name_per_agency")]

    def __str__(self):
        return f"{self.name} ({self.organization})"
