from django import forms
from django.utils.translation import gettext_lazy as _

DIGITS = {"inputmode": "none", "autocomplete": "off", "pattern": "[0-9]*"}


class KioskLoginForm(forms.Form):
    number = forms.CharField(label=_("Staff/student number"), max_length=32,
                             widget=forms.TextInput(attrs={**DIGITS, "data-keypad": "1"}))
    password = forms.CharField(label=_("Query password"), max_length=12,
                               widget=forms.PasswordInput(attrs={**DIGITS, "data-keypad": "1"}))
