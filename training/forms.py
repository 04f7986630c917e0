from django import forms

from hmis_portal.core.documents import DocumentField
from hmis_portal.core.inputs import BoundedDateField, TextValidationMixin

from .models import Course


class CertificateForm(forms.Form):
    course = forms.ModelChoiceField(queryset=Course.objects.all(), label="Course the certificate is for")
    completed_on = BoundedDateField(label="Date on the certificate", widget=forms.DateInput(attrs={"type": "date"}))
    document = DocumentField(label="Certificate")


class FormUploadForm(forms.Form):
    document = DocumentField(label="Signed form")


class FormSignForm(TextValidationMixin, forms.Form):
    """Signing in the portal: the signer's full name, typed, and the attestation ticked."""

    typed_name = forms.CharField(label="Type your full name to sign", max_length=150)
    attested = forms.BooleanField(required=False)

    def __init__(self, *args, attestation: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attested"].label = attestation or "I attest to the statement above."
