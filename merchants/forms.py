"""The fields of each paper form (its payload), validated per kind, and the admin's decide form."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ApplicationKind, MerchantKind


class AccessForm(forms.Form):
    """《系统用户接入申请表》(U§5)."""

    business_scope = forms.CharField(label=_("business scope"), max_length=500)
    location = forms.CharField(label=_("location"), max_length=100, required=False)
    terminals_wanted = forms.IntegerField(label=_("terminals wanted"), min_value=0, max_value=50, required=False)


class DeviceForm(forms.Form):
    """《系统用户设备领用表》(U§6)."""

    count = forms.IntegerField(label=_("number of terminals"), min_value=1, max_value=20)
    kind = forms.TypedChoiceField(label=_("terminal kind"), choices=[("", "-")] + MerchantKind.choices, coerce=int,
                                  required=False, empty_value=None)
    location = forms.CharField(label=_("location"), max_length=100, required=False)
    purpose = forms.CharField(label=_("purpose"), max_length=500)


# Fields of a business change that touch the money side need finance as well (M§42).
CHANGE_FIELDS = ("name", "location", "bank_name", "bank_account_name", "bank_account_no", "settlement_months")
FINANCE_FIELDS = ("bank_name", "bank_account_name", "bank_account_no", "settlement_months")


class ChangeForm(forms.Form):
    """《系统用户业务变更申请表》(U§13); settlement period by agreement with finance (R-SET-1)."""

    description = forms.CharField(label=_("description of the change"), max_length=500)
    name = forms.CharField(label=_("new name"), max_length=100, required=False)
    location = forms.CharField(label=_("new location"), max_length=100, required=False)
    bank_name = forms.CharField(label=_("new bank"), max_length=100, required=False)
    bank_account_name = forms.CharField(label=_("new bank account name"), max_length=100, required=False)
    bank_account_no = forms.RegexField(label=_("new bank account number"), regex=r"^\d{8,30}$", required=False)
    settlement_months = forms.IntegerField(label=_("new settlement period (months)"), min_value=1, max_value=12,
                                           required=False)


class CancelForm(forms.Form):
    """《系统用户撤销申请表》(U§15)."""

    reason = forms.CharField(label=_("reason"), max_length=500)
    last_day = forms.DateField(label=_("last business day"), required=False)


class FaultForm(forms.Form):
    """A fault that affects reading or charging, reported to the centre (U§16, R-TERM-4)."""

    terminal_id = forms.IntegerField(label=_("terminal"), min_value=1)
    description = forms.CharField(label=_("description"), max_length=500)
    affects_charging = forms.BooleanField(label=_("affects reading or charging"), required=False)
    take_out_of_service = forms.BooleanField(label=_("take the terminal out of service"), required=False)
    occurred_at = forms.DateTimeField(label=_("occurred at"), required=False)


class OfflineForm(forms.Form):
    """The centre's authorisation to run a terminal offline for a period (U§17, R-TERM-2)."""

    terminal_id = forms.IntegerField(label=_("terminal"), min_value=1)
    valid_from = forms.DateTimeField(label=_("from"))
    valid_to = forms.DateTimeField(label=_("until"))
    reason = forms.CharField(label=_("reason"), max_length=200)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("valid_from"), cleaned.get("valid_to")
        if start and end and end <= start:
            raise forms.ValidationError(_("The period must end after it starts."))
        return cleaned


class RevokeForm(forms.Form):
    """The centre withdraws a merchant's access after repeated breaches (U§24)."""

    reason = forms.CharField(label=_("reason"), max_length=500)


PAYLOAD_FORMS: dict[str, type[forms.Form]] = {
    ApplicationKind.ACCESS: AccessForm,
    ApplicationKind.DEVICE: DeviceForm,
    ApplicationKind.CHANGE: ChangeForm,
    ApplicationKind.CANCEL: CancelForm,
    ApplicationKind.FAULT: FaultForm,
    ApplicationKind.OFFLINE: OfflineForm,
    ApplicationKind.REVOKE: RevokeForm,
}


def _jsonable(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def payload_clean(kind: str, data: dict) -> tuple[dict | None, dict]:
    """The cleaned, JSON-ready payload of a form of `kind` (empty optional fields dropped), or
    (None, errors)."""
    form = PAYLOAD_FORMS[kind](data=data or {})
    if not form.is_valid():
        return None, form.errors
    unknown = set(data or {}) - set(form.fields)
    if unknown:
        return None, {"__all__": [f"Unknown fields: {', '.join(sorted(unknown))}."]}
    return {k: _jsonable(v) for k, v in form.cleaned_data.items() if v not in (None, "")}, {}


class DecideForm(forms.Form):
    comment = forms.CharField(label=_("comment"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))
