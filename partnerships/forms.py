from django import forms
from django.core.exceptions import ValidationError

from hmis_portal.core.calendar import local_date
from hmis_portal.core.documents import DocumentField
from hmis_portal.core.inputs import BoundedDateField, BoundedDateTimeField, TextValidationMixin

from .models import MAX_INTAKES


class DateInput(forms.DateInput):
    input_type = "date"


class ProposeForm(TextValidationMixin, forms.Form):
    """The Executive Director's proposal: the partner agency and the signed MOA (seed 003, step 3.2)."""

    partner = forms.ModelChoiceField(label="HMIS data partner", queryset=None,
                                     help_text="An agency that participates in HMIS and will enter your intakes.")
    moa_signed_on = BoundedDateField(label="MOA signed on", widget=DateInput)
    moa = DocumentField(label="Signed MOA (scan)")

    def __init__(self, *args, partners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partners

    def clean_moa_signed_on(self):
        signed_on = self.cleaned_data["moa_signed_on"]
        if signed_on > local_date():
            raise ValidationError("The signing date cannot be in the future.")
        return signed_on


class ReasonForm(TextValidationMixin, forms.Form):
    """Ending a partnership (the portal's page and the admin's button)."""

    reason = forms.CharField(label="Why end the partnership?", max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 3}), help_text="Both agencies see this.")


class DeclineForm(ReasonForm):
    reason = forms.CharField(label="Why do you decline?", max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="The agency sees this.")


class BatchForm(TextValidationMixin, forms.Form):
    """A hand-over of intakes to the partner. Counts only: no client names or IDs."""

    received_at = BoundedDateTimeField(label="Sent to the partner at",
                                       help_text="When the partner received the intakes (your local time).")
    intake_count = forms.IntegerField(label="Number of intakes", min_value=1, max_value=MAX_INTAKES)
    reference = forms.CharField(label="Batch reference", max_length=60, required=False,
                                help_text="Optional: a reference both agencies agree on. No client names.")
    note = forms.CharField(label="Note", max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2}),
                           help_text="Optional: how the intakes were sent (secure email, fax, in person). "
                                     "No client details.")


class EnteredForm(forms.Form):
    entered_at = BoundedDateTimeField(label="Entered into HMIS at", help_text="Your local time.")
