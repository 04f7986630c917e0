from django import forms

from hmis_portal.core.inputs import IdMultipleChoiceField, TextValidationMixin
from training.models import CESRole, Course, RequiredForm


class AccessRequestForm(TextValidationMixin, forms.Form):
    """The Program Manager or Agency Administrator identifies a user and their
    CES roles (seed 000, step 3.1). The service checks the rules."""

    full_name = forms.CharField(label="Full name", max_length=150)
    email = forms.EmailField(label="Work email address")
    new_hmis_user = forms.TypedChoiceField(
        label="Is this person new to HMIS?", coerce=lambda v: v == "new", widget=forms.RadioSelect,
        choices=[("new", "New HMIS user"), ("existing", "Existing HMIS user")],
    )
    roles = IdMultipleChoiceField(label="CES roles", queryset=None, widget=forms.CheckboxSelectMultiple,
                                           help_text="One or more. The person gets the HMIS role whose access covers all of them.")
    programs = IdMultipleChoiceField(label="Programs this person works in", queryset=None, required=False,
                                              widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        # What a new user does more is the CoC's policy (courses and forms for new users only).
        extra = [*Course.objects.filter(active=True, new_users_only=True).values_list("title", flat=True),
                 *RequiredForm.objects.filter(active=True, new_users_only=True).values_list("title", flat=True)]
        if extra:
            self.fields["new_hmis_user"].choices = [
                ("new", f"New HMIS user (also: {', '.join(extra)})"), ("existing", "Existing HMIS user")]
        # Retired roles are not offered; requests that already name one keep it.
        self.fields["roles"].queryset = CESRole.objects.filter(active=True).prefetch_related("program_types")
        self.fields["roles"].label_from_instance = lambda role: (
            f"{role.name} — {'any program type' if role.any_program_type else ', '.join(t.name for t in role.program_types.all())}"
        )
        self.fields["programs"].queryset = organization.programs.select_related("program_type").order_by("name")
        self.fields["programs"].label_from_instance = lambda p: f"{p.name} ({p.program_type})"
