"""Forms of the card centre's admin. They check what a person typed; the rules are the services'."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .formatting import fen_from_yuan
from .imports import MAX_ROWS
from .models import AdjustmentLimit, Cardholder, CardType, FeeSchedule, Unit
from .services import Adjustment, batch_units_for
from .setup import ROLE_NAMES

REASON_MAX = 200
PERSON_NAME = pgettext_lazy("person", "name")  # 姓名; the models' "name" is a unit's or an account's 名称

FEE_PAYMENT_LABELS = {
    "cash": _("Cash at the counter"),
    "purse": _("From the holder's purse"),
    "bank": _("Bank transfer"),
}
PAYOUT_LABELS = {
    "bank": _("To the holder's bank card"),
    "cash": _("In cash"),
}
# Labels for services.Adjustment's four kinds (R-ADJ-1).
ADJUSTMENT_LABELS = {
    Adjustment.DEBIT_BANK_CARD: _("Debit the bank card"),
    Adjustment.DEBIT_CAMPUS_CARD: _("Debit the campus card"),
    Adjustment.HOLDER_PAYS_IN: _("Holder pays in"),
    Adjustment.REFUND_HOLDER: _("Refund the holder"),
}


def _reason_field(required: bool = True, help_text=""):
    return forms.CharField(
        label=_("Reason"), max_length=REASON_MAX, required=required, help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


def _yuan_field(label, *, min_value: Decimal, help_text=""):
    return forms.DecimalField(
        label=label, max_digits=12, decimal_places=2, min_value=min_value, help_text=help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 12}),
    )


# --- cardholders --------------------------------------------------------------------

class CardholderAdminForm(forms.ModelForm):
    """Add and change a cardholder. The admin saves it through services.holder_create/update.

    On an existing holder the ID number is never sent to the browser: the field starts empty,
    shows the masked number, and an empty field keeps the number on file.
    """

    change_reason = forms.CharField(
        label=_("Reason for the change"), max_length=REASON_MAX, required=False,
        help_text=_("Recorded in the audit log with the change."),
    )

    class Meta:
        model = Cardholder
        fields = ["number", "name", "id_number", "category", "entry", "unit", "start_date", "end_date", "bank_card_no"]
        labels = {"name": PERSON_NAME}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "id_number" in self.fields:
            self.initial["id_number"] = ""
            self.fields["id_number"].widget.attrs["autocomplete"] = "off"
            masked = self.instance.id_number_masked
            self.fields["id_number"].help_text = (
                _("On file: %(masked)s. Leave empty to keep it; type a new number to replace it.") % {"masked": masked}
                if masked else _("None on file.")
            )

    def clean_id_number(self):
        value = (self.cleaned_data.get("id_number") or "").strip()
        if not value and self.instance.pk:
            return self.instance.id_number
        return value


# --- actions on holders and cards ---------------------------------------------------

class ActionForm(forms.Form):
    """A form for one admin action on `obj` (a Cardholder or a Card)."""

    def __init__(self, *args, obj=None, **kwargs):
        self.obj = obj
        super().__init__(*args, **kwargs)


class OptionalReasonForm(ActionForm):
    reason = _reason_field(required=False)


class ReasonForm(ActionForm):
    reason = _reason_field(help_text=_("Required; recorded in the audit log."))


class IssueFormalForm(ActionForm):
    fee_payment = forms.ChoiceField(
        label=_("Card fee paid by"), choices=list(FEE_PAYMENT_LABELS.items()), initial="cash",
        help_text=_("The first formal card is free (R-FEE-1); a holder who had one before pays the card fee."),
    )


class ReplaceForm(ReasonForm):
    fee_payment = forms.ChoiceField(
        label=_("Replacement fee paid by"), initial="cash",
        choices=[(k, FEE_PAYMENT_LABELS[k]) for k in ("cash", "purse")],
    )


class ExtendForm(ReasonForm):
    until = forms.DateField(
        label=_("New valid-until date"), required=False,
        help_text=_("Leave empty for the longest extension allowed (R-CARD-6, R-CARD-7, R-CARD-8)."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    proof_end_date = forms.DateField(
        label=_("End date on the proof"), required=False,
        help_text=_("The new end of study or employment on the proof presented; "
                    "required for ordinary cards and students' cards."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class CloseAccountForm(ReasonForm):
    payout = forms.ChoiceField(label=_("Pay out the balance"), choices=list(PAYOUT_LABELS.items()), initial="bank")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.obj is not None and not isinstance(self.obj, Cardholder):
            self.initial.setdefault("payout", "cash")  # an anonymous consumption card has no bank card


class AdjustForm(ReasonForm):
    """An adjustment of R-ADJ-1. The amount is typed in yuan and reaches the service as fen."""

    kind = forms.ChoiceField(label=_("Adjustment"), choices=list(ADJUSTMENT_LABELS.items()))
    amount = _yuan_field(_("Amount (yuan)"), min_value=Decimal("0.01"),
                         help_text=_("In yuan, at most two decimals, greater than zero, within the limit in force."))
    bank_ref = forms.CharField(label=_("Bank record"), max_length=60, required=False)

    def clean(self):
        cleaned = super().clean()
        amount = cleaned.get("amount")
        if amount is not None:
            try:
                cleaned["amount_fen"] = fen_from_yuan(amount)
            except ValueError:
                self.add_error("amount", _("Enter an amount in yuan with at most two decimals."))
        return cleaned


class KioskPasswordForm(ActionForm):
    password1 = forms.CharField(
        label=_("New kiosk password"), strip=False, max_length=12,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "inputmode": "numeric"}),
        help_text=_("6 to 12 digits."),
    )
    password2 = forms.CharField(
        label=_("Repeat the password"), strip=False, max_length=12,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "inputmode": "numeric"}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password2") and cleaned["password1"] != cleaned["password2"]:
            self.add_error("password2", _("The two passwords differ."))
        return cleaned


# --- batch import (R-ISSUE-2) -------------------------------------------------------

class BatchImportForm(forms.Form):
    """The applying unit is one of the units the user may import for (R-ISSUE-2): a unit's batch
    agent sees only their own unit."""

    unit = forms.ModelChoiceField(label=_("Applying unit"), queryset=Unit.objects.none())
    card_type = forms.TypedChoiceField(
        label=_("Card type"), coerce=int,
        choices=[(CardType.ORDINARY.value, CardType.ORDINARY.label), (CardType.CONSUMPTION.value, CardType.CONSUMPTION.label)],
    )
    file = forms.FileField(
        label=_("Application file"), required=False,
        help_text=lazy(lambda: _(
            "CSV (UTF-8 or GBK) or XLSX, with a header row naming the columns: number (学号/工号), "
            "name (姓名), category (人员类别), id_number, start_date, end_date, bank_card_no, label. "
            "At most %(max)d rows."
        ) % {"max": MAX_ROWS}, str)(),
    )
    quantity = forms.IntegerField(
        label=_("Quantity"), required=False, min_value=1, max_value=MAX_ROWS,
        help_text=_("Consumption cards only: the number of anonymous cards, instead of a file."),
    )
    fee_payment = forms.ChoiceField(
        label=_("The unit pays the card fees by"), initial="bank",
        choices=[(k, FEE_PAYMENT_LABELS[k]) for k in ("bank", "cash")],
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        units = batch_units_for(user)
        self.fields["unit"].queryset = units
        if units.count() == 1:
            self.fields["unit"].initial = units.get().pk
            self.fields["unit"].empty_label = None

    def clean(self):
        cleaned = super().clean()
        card_type, upload, quantity = cleaned.get("card_type"), cleaned.get("file"), cleaned.get("quantity")
        if card_type == CardType.ORDINARY:
            if not upload:
                self.add_error("file", _("An ordinary-card batch needs the unit's application file."))
            if quantity:
                self.add_error("quantity", _("A quantity is only for consumption cards."))
        elif card_type == CardType.CONSUMPTION:
            if upload and quantity:
                self.add_error("quantity", _("Give a file or a quantity, not both."))
            elif not upload and not quantity and "quantity" not in self.errors:
                self.add_error("quantity", _("Give the number of cards or upload a file."))
        return cleaned


# --- fee schedule -------------------------------------------------------------------

class FeeScheduleAddForm(forms.ModelForm):
    """Finance adds a fee from a date on (R-FEE-2, R-FEE-3); typed in yuan, stored in fen. The admin
    saves it through services.fee_schedule_add."""

    amount_yuan = _yuan_field(_("Amount (yuan)"), min_value=Decimal("0.00"))
    reason = _reason_field(help_text=_("Required; recorded in the audit log, e.g. the school's decision."))

    class Meta:
        model = FeeSchedule
        fields = ["kind", "effective_from"]

    def clean(self):
        cleaned = super().clean()
        amount = cleaned.get("amount_yuan")
        if amount is not None:
            try:
                self.instance.amount = fen_from_yuan(amount)
            except ValueError:
                self.add_error("amount_yuan", _("Enter an amount in yuan with at most two decimals."))
        return cleaned


class AdjustmentLimitAddForm(forms.ModelForm):
    """The super admin sets the most one adjustment may move (R-ADJ-1) from a date on; saved
    through services.adjustment_limit_set."""

    amount_yuan = _yuan_field(_("At most per adjustment (yuan)"), min_value=Decimal("0.01"))
    reason = _reason_field(help_text=_("Required; recorded in the audit log, e.g. the school's decision."))

    class Meta:
        model = AdjustmentLimit
        fields = ["effective_from"]

    def clean(self):
        cleaned = super().clean()
        amount = cleaned.get("amount_yuan")
        if amount is not None:
            try:
                self.instance.amount = fen_from_yuan(amount)
            except ValueError:
                self.add_error("amount_yuan", _("Enter an amount in yuan with at most two decimals."))
        return cleaned


# --- units --------------------------------------------------------------------------

def _unit_agent_users():
    return get_user_model().objects.filter(is_active=True, groups__name=ROLE_NAMES["unit_agent"]).order_by("username")


class UnitAdminForm(forms.ModelForm):
    """A unit and its batch agents (R-ISSUE-2). The admin saves it through services.unit_create,
    unit_update and unit_agents_set."""

    agents = forms.ModelMultipleChoiceField(
        label=_("Batch agents"), required=False, queryset=get_user_model().objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Logins with the unit batch agent role (单位批量经办人) that apply for this unit's batches; "
                    "an agent applies for one unit only."),
    )
    change_reason = forms.CharField(
        label=_("Reason for the change"), max_length=REASON_MAX, required=False,
        help_text=_("Recorded in the audit log with the change."),
    )

    class Meta:
        model = Unit
        fields = ["code", "name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Agents not yet tied to a unit, and this unit's own.
        users = _unit_agent_users().filter(unit_agent__isnull=True)
        if self.instance.pk:
            users = users | _unit_agent_users().filter(unit_agent__unit=self.instance)
            self.initial.setdefault("agents", [a.user_id for a in self.instance.agents.all()])
        self.fields["agents"].queryset = users.distinct()


class SubsidyImportForm(forms.Form):
    """A subsidy list (补助名单) and its terms; checked and shown before anything is filed."""

    file = forms.FileField(
        label=_("Subsidy list"),
        help_text=_("CSV (UTF-8 or GBK) or XLSX with a header row: 学号/工号, 金额（元）, 事由 (optional), "
                    "有效期至 (optional, YYYY-MM-DD; else the date below). One line per holder."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=200)
    expires_on = forms.DateField(label=_("Claimable until"), widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text=_("Unclaimed amounts go back to the school's funding after this day."))
    merchant_kinds = forms.MultipleChoiceField(
        label=_("Claimable at"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave empty for every top-up point. The card carries one purse and only top-up points "
                    "collect pending credit, so the claim happens there."),
    )

    def __init__(self, *args, **kwargs):
        from .subsidy_models import SUBSIDY_MERCHANT_KINDS

        super().__init__(*args, **kwargs)
        self.fields["merchant_kinds"].choices = SUBSIDY_MERCHANT_KINDS


class SubsidyDecideForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=200, required=False,
                           help_text=_("Required when rejecting."))
