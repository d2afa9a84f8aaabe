"""Forms of the finance desk: what a person typed; the rules are the services'."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Unit


class GraduationCloseForm(forms.Form):
    """Close a graduating undergraduate cohort (R-CLOSE-2): asked once, shown, then confirmed."""

    graduation_year = forms.IntegerField(label=_("Graduation year"), min_value=2000, max_value=2100)
    unit = forms.ModelChoiceField(label=_("Unit (all when empty)"), queryset=Unit.objects.all(), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=200)
    confirm = forms.BooleanField(label=_("I have checked the list: close these accounts and pay the balances to "
                                         "the bank cards"), required=False)
