from django import forms

from hmis_portal.core.inputs import TextValidationMixin
from onboarding.models import Program
from onboarding.selectors import referable_programs

from .models import NeedStatus, Referral


class VersionedForm(TextValidationMixin, forms.Form):
    """Carries the referral's version the page was loaded with: a stale page
    (someone else changed the referral since) saves nothing."""

    version = forms.IntegerField(widget=forms.HiddenInput)


class ReferralCreateForm(TextValidationMixin, forms.ModelForm):
    program = forms.ModelChoiceField(
        queryset=Program.objects.none(), label="Housing provider's program",
        help_text="Confirmed programs of agencies whose Organization Agreement is executed.")

    class Meta:
        model = Referral
        fields = ["program", "hmis_client_id", "contact_name", "contact_phone", "contact_email", "contact_notes"]
        widgets = {"contact_notes": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "hmis_client_id": "The client's unique identifier in HMIS. No other identifying data is stored.",
            "contact_name": "Only what the provider needs to reach the client.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = referable_programs().select_related("organization").order_by(
            "organization__name", "name")
        self.fields["program"].label_from_instance = lambda p: f"{p.organization} — {p.name}"


class StatusChangeForm(VersionedForm):
    to_status = forms.ModelChoiceField(queryset=NeedStatus.objects.none(), label="New need status",
                                       empty_label="Choose a status")
    enrollment_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                      help_text="Required when the client is enrolled.")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                           help_text="What happened; required for declines and rematches.")

    def __init__(self, *args, choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Offer what the person may choose, but accept any status on POST:
        # the service decides and says clearly why a choice is not allowed.
        self.fields["to_status"].queryset = NeedStatus.objects.filter(active=True)
        if choices is not None:
            self.fields["to_status"].choices = [("", "Choose a status")] + [(s.pk, s.name) for s in choices]

    def clean_to_status(self):
        return self.cleaned_data["to_status"]


class MoveInForm(VersionedForm):
    move_in_date = forms.DateField(label="Housing move-in date", widget=forms.DateInput(attrs={"type": "date"}))


class CEEnrollmentForm(VersionedForm):
    # No max_length or character check here: the service says what is wrong
    # in the product's words, beside the field.
    ce_enrollment_id = forms.CharField(
        label="CE enrollment ID", strip=True,
        help_text="The client's Coordinated Entry project enrollment ID in the HMIS, exactly as the HMIS shows "
                  "it. HUD's Event.csv reports this referral under it.")


class TransferForm(VersionedForm):
    reason = forms.CharField(label="Reason for the transfer", widget=forms.Textarea(attrs={"rows": 2}))


class RereferForm(VersionedForm):
    program = forms.ModelChoiceField(
        queryset=Program.objects.none(), label="Re-refer to program",
        help_text="Confirmed programs of agencies whose Organization Agreement is executed.")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = referable_programs().select_related("organization").order_by(
            "organization__name", "name")
        self.fields["program"].label_from_instance = lambda p: f"{p.organization} — {p.name}"
