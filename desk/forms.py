"""Forms of the desk. They check what was typed; the rules are the services'."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts import forms as account_forms
from accounts.formatting import fen_from_yuan
from accounts.models import Cardholder
from accounts.parsing import date_in_range


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Card number, staff/student number, name or last digits of the ID number"),
                        max_length=64, required=False,
                        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off", "id": "q",
                                                      "placeholder": _("Swipe the card or type…")}))


class HolderForm(account_forms.CardholderAdminForm):
    """A new holder at the counter, or the holder's details: saved through holder_create/update."""

    class Meta(account_forms.CardholderAdminForm.Meta):
        fields = ["number", "name", "id_number", "category", "entry", "unit", "start_date", "end_date", "phone",
                  "bank_card_no"]
        widgets = {"start_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                   "end_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}
        labels = {"name": account_forms.PERSON_NAME}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["number"].disabled = True  # the number is who they are; a new one is a new holder
            self.fields["phone"].initial = ""
            self.initial["phone"] = ""
            self.fields["phone"].help_text = (
                _("On file: %(masked)s. Leave empty to keep it.") % {"masked": _mask_phone(self.instance.phone)}
                if self.instance.phone else _("None on file."))
        else:
            self.fields.pop("change_reason")

    def clean_phone(self):
        value = (self.cleaned_data.get("phone") or "").strip()
        if not value and self.instance.pk:
            return self.instance.phone
        return value


def _mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


class PhotoForm(forms.Form):
    photo = forms.FileField(label=_("Photo (JPEG or PNG)"))


class ReasonForm(account_forms.ActionForm):
    """A reason, filled in with the usual one for the action (the clerk may change it)."""

    reason = forms.CharField(label=_("Reason"), max_length=account_forms.REASON_MAX,
                             widget=forms.TextInput(attrs={"size": 50}))

    def __init__(self, *args, default_reason: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].initial = default_reason


class OptionalReasonForm(ReasonForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = False


class IdCheckForm(ReasonForm):
    """In person with ID (R-LOSS-2, R-FREEZE-1): the clerk types the ID number from the ID presented."""

    id_number = forms.CharField(label=_("ID number on the ID presented"), max_length=20,
                                widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}))

    field_order = ["id_number", "reason"]


class IssueForm(account_forms.IssueFormalForm):
    pass


class ReplaceForm(ReasonForm):
    fee_payment = account_forms.ReplaceForm.base_fields["fee_payment"]


class ExtendForm(ReasonForm):
    until = account_forms.ExtendForm.base_fields["until"]
    proof_end_date = account_forms.ExtendForm.base_fields["proof_end_date"]


class CloseForm(ReasonForm):
    payout = forms.ChoiceField(label=_("Pay out the balance"), choices=list(account_forms.PAYOUT_LABELS.items()),
                               initial="bank")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.obj is not None and not isinstance(self.obj, Cardholder):
            self.fields["payout"].initial = "cash"  # an anonymous consumption card has no bank card


class DepositForm(account_forms.ActionForm):
    """Cash at the counter, in yuan; `key` makes a second submit of the same form post nothing."""

    amount = forms.DecimalField(label=_("Cash received (yuan)"), max_digits=9, decimal_places=2,
                                min_value=Decimal("0.01"),
                                widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off",
                                                              "autofocus": True, "size": 10}))
    key = forms.CharField(widget=forms.HiddenInput, max_length=32)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("amount") is not None:
            try:
                cleaned["amount_fen"] = fen_from_yuan(cleaned["amount"])
            except ValueError:
                self.add_error("amount", _("Enter an amount in yuan with at most two decimals."))
        return cleaned


class KioskPasswordForm(account_forms.KioskPasswordForm):
    pass


class IntakeUploadForm(forms.Form):
    file = forms.FileField(label=_("Intake file (CSV or XLSX)"))
    photos = forms.FileField(label=_("Photos (one ZIP of JPEG/PNG files named by number, optional)"), required=False)


class CashReportForm(forms.Form):
    day = forms.DateField(label=_("Business day"), required=False,
                          widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def clean_day(self):
        # Year 9999 would overflow the day's end bound; the parser's range is the product's range.
        day = self.cleaned_data.get("day")
        if day is not None and not date_in_range(day):
            raise forms.ValidationError(_("Enter a date between 1900 and 2999."))
        return day
