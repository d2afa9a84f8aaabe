from django import forms
from django.utils.translation import gettext_lazy as _

DIGITS = {"inputmode": "none", "autocomplete": "off", "pattern": "[0-9]*"}
# Staff/student numbers are letters and digits (imported holders: T2026001); ID numbers end in X.
LETTERS = {"inputmode": "none", "autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}


class KioskLoginForm(forms.Form):
    number = forms.CharField(label=_("Staff/student number or ID number"), max_length=32,
                             widget=forms.TextInput(attrs={**LETTERS, "data-keypad": "alnum"}))
    password = forms.CharField(label=_("Query password"), max_length=12,
                               widget=forms.PasswordInput(attrs={**DIGITS, "data-keypad": "digits"}))


class KioskResetForm(forms.Form):
    """A forgotten or never-set query password: the ID number and the registered mobile number."""

    id_number = forms.CharField(label=_("ID number"), max_length=20,
                                widget=forms.TextInput(attrs={**LETTERS, "data-keypad": "alnum"}))
    phone = forms.CharField(label=_("Registered mobile number"), max_length=14,
                            widget=forms.TextInput(attrs={**DIGITS, "data-keypad": "digits"}))
    password1 = forms.CharField(label=_("New query password (6 to 12 digits)"), max_length=12, min_length=6,
                                widget=forms.PasswordInput(attrs={**DIGITS, "data-keypad": "digits"}))
    password2 = forms.CharField(label=_("Repeat the new password"), max_length=12,
                                widget=forms.PasswordInput(attrs={**DIGITS, "data-keypad": "digits"}))

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and not (p1.isascii() and p1.isdigit()):
            self.add_error("password1", _("The query password must be 6 to 12 digits."))
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords differ."))
        return cleaned
