from django import forms


class CodeForm(forms.Form):
    token = forms.CharField(
        label="Code", max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false",
                                      "autocapitalize": "off"}),
    )
