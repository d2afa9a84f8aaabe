from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.formatting import fen_from_yuan


class CorrectionForm(forms.Form):
    """消费纠错处理单 (U§9): the over-charge in yuan, why, and that both sides confirmed it."""

    amount = forms.DecimalField(label=_("Over-charged amount (yuan)"), min_value=Decimal("0.01"), max_digits=10,
                                decimal_places=2, widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}))
    reason = forms.CharField(label=_("What happened"), max_length=200)
    merchant_confirmed = forms.BooleanField(label=_("The merchant confirms the over-charge"))
    holder_confirmed = forms.BooleanField(label=_("The cardholder confirms the over-charge"))

    def clean_amount(self):
        return fen_from_yuan(self.cleaned_data["amount"])


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)
