from django import forms
from django.core.exceptions import ValidationError

from hmis_portal.core.calendar import local_date
from hmis_portal.core.documents import DocumentField
from hmis_portal.core.inputs import BoundedDateField, IdMultipleChoiceField, TextValidationMixin

from .models import CESOrganizationRole, Program, ProgramType


class DateInput(forms.DateInput):
    input_type = "date"


class AgreementUploadForm(TextValidationMixin, forms.Form):
    """The ED/Authorized Representative's section of the agreement, and its scan (seed 000, step 1.1)."""

    signer_name = forms.CharField(label="Signed by (name)", max_length=150)
    signer_title = forms.CharField(label="Signer's title", max_length=150,
                                   help_text="Executive Director or the Authorized Representative's title.")
    signed_on = BoundedDateField(label="Signing date", widget=DateInput)
    document = DocumentField(label="Signed agreement (scan)")

    def clean_signed_on(self):
        signed_on = self.cleaned_data["signed_on"]
        if signed_on > local_date():
            raise ValidationError("The signing date cannot be in the future.")
        return signed_on


class CESRolesForm(forms.Form):
    roles = IdMultipleChoiceField(
        label="The organization's roles in CES", queryset=CESOrganizationRole.objects.filter(active=True),
        widget=forms.CheckboxSelectMultiple, help_text="Choose one or more. The roles decide which programs are set up.",
        error_messages={"required": "Choose at least one CES role."},
    )


class ProgramRequestForm(TextValidationMixin, forms.Form):
    name = forms.CharField(label="Program name", max_length=200)
    program_type = forms.ModelChoiceField(queryset=ProgramType.objects.all(), empty_label=None,
                                          help_text="Permanent Housing programs need no setup modification.")
    request_kind = forms.ChoiceField(label="Request", choices=Program.RequestKind.choices,
                                     widget=forms.RadioSelect, initial=Program.RequestKind.CREATE)
    existing_hmis_program = forms.CharField(label="Existing HMIS program name or ID", max_length=200,
                                            required=False, help_text="Only for a modification.")
    details = forms.CharField(label="What the program does", required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self):
        data = super().clean()
        if data.get("request_kind") == Program.RequestKind.MODIFY and not data.get("existing_hmis_program"):
            self.add_error("existing_hmis_program", "Name the HMIS program to modify.")
        return data


class AnswerForm(TextValidationMixin, forms.Form):
    answer = forms.CharField(label="Your answer", widget=forms.Textarea(attrs={"rows": 3}))


class ProblemForm(TextValidationMixin, forms.Form):
    problem = forms.CharField(label="What is wrong with the setup?", widget=forms.Textarea(attrs={"rows": 3}))


class ReturnForm(TextValidationMixin, forms.Form):
    reason = forms.CharField(label="What must the agency correct?", widget=forms.Textarea(attrs={"rows": 4}),
                             help_text="The agency sees this.")


class TerminateForm(TextValidationMixin, forms.Form):
    reason = forms.CharField(label="Why is the agreement terminated?", widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="The agency sees this. Its HMIS accounts become Inactive unless another "
                                       "agreement of the agency is in force.")


class QuestionForm(TextValidationMixin, forms.Form):
    question = forms.CharField(label="Question for the Program Manager", widget=forms.Textarea(attrs={"rows": 4}))


class CompleteForm(TextValidationMixin, forms.Form):
    hmis_program_id = forms.CharField(label="HMIS program ID", max_length=100, required=False)


class JoinRequestForm(TextValidationMixin, forms.Form):
    """The public "Join HMIS" page: an organization asks to take part."""

    organization_name = forms.CharField(label="Organization name", max_length=200)
    contact_name = forms.CharField(label="Your name", max_length=150,
                                   help_text="The Executive Director or Authorized Representative, who will sign "
                                             "the HMIS Organization Agreement.")
    contact_email = forms.EmailField(label="Your email address", max_length=254)
    phone = forms.CharField(label="Phone (optional)", max_length=40, required=False)
    ces_roles = IdMultipleChoiceField(label="CES roles you expect to play", required=False,
                                      queryset=CESOrganizationRole.objects.filter(active=True),
                                      widget=forms.CheckboxSelectMultiple)
    note = forms.CharField(label="Anything the CoC should know", required=False, max_length=4000,
                           widget=forms.Textarea(attrs={"rows": 4}))


class JoinAcceptForm(TextValidationMixin, forms.Form):
    program_manager_email = forms.EmailField(
        label="Program Manager's email", max_length=254,
        help_text="Invited as the agency's Program Manager; may be the contact's own address.")
    program_manager_name = forms.CharField(label="Program Manager's name", max_length=150, required=False)


class JoinDeclineForm(TextValidationMixin, forms.Form):
    reason = forms.CharField(label="Why the request is declined", widget=forms.Textarea(attrs={"rows": 4}),
                             help_text="Emailed to the contact.")
