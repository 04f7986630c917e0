from django import forms

from hmis_portal.core.documents import DocumentField
from hmis_portal.core.inputs import BoundedDateField

from .models import Course


class CertificateForm(forms.Form):
    course = forms.ModelChoiceField(queryset=Course.objects.all(), label="Course the certificate is for")
    completed_on = BoundedDateField(label="Date on the certificate", widget=forms.DateInput(attrs={"type": "date"}))
    document = DocumentField(label="Certificate")


class FormUploadForm(forms.Form):
    document = DocumentField(label="Signed form")
