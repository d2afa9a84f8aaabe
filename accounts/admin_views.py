"""The card centre's buttons: one small admin view per service call.

Every action names the permission it needs (the same one the service checks), a form, and the
service call. The view shows the button only to users who hold the permission, answers 403 to
anyone else, and on a BusinessError shows the service's message and changes nothing (each
service runs in one transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import forms, selectors, services
from .errors import BusinessError
from .formatting import yuan
from .imports import BatchRejected, batch_file_parse
from .models import Card, Cardholder, CardStatus, Category, FeeSchedule, IssueBatch, Purse

# Names of AuditLog.action, for people.
AUDIT_ACTION_LABELS = {
    "holder_create": _("Cardholder created"),
    "holder_update": _("Cardholder changed"),
    "holder_kiosk_password": _("Kiosk password set"),
    "holder_reopen": _("Account reopened"),
    "card_issue": _("Card issued"),
    "batch_fee": _("Batch card fees"),
    "card_report_loss": _("Reported lost"),
    "card_reverse_loss": _("Loss report reversed"),
    "card_freeze": _("Card frozen"),
    "card_unfreeze": _("Card unfrozen"),
    "card_replaced": _("Replaced (old card)"),
    "card_replace": _("Replacement card issued"),
    "card_extend": _("Validity extended"),
    "card_unexpire": _("Valid again after extension"),
    "card_functions": _("Subsystem functions changed"),
    "card_expire": _("Card expired"),
    "card_close": _("Card closed"),
    "account_close": _("Account closed"),
    "account_adjust": _("Account adjusted"),
    "adjustment_request": _("Adjustment requested"),
    "adjustment_decide": _("Adjustment decided"),
    "adjustment_limit_set": _("Adjustment limit set"),
    "cash_account_open": _("Cash account opened"),
    "purse_credit": _("Purse credited"),
    "unit_create": _("Unit created"),
    "unit_update": _("Unit changed"),
    "unit_agents_set": _("Unit batch agents changed"),
    "fee_schedule_add": _("Fee set"),
    "holder_photo": _("Photo taken"),
    "cash_deposit": _("Cash deposit at the counter"),
    "kiosk_password_reset": _("Query password set at the kiosk"),
    "kiosk_locked": _("Kiosk locked after wrong answers"),
    "intake_preview": _("Intake checked"),
    "intake_apply": _("Intake written"),
    "intake_cancel": _("Intake cancelled"),
    "subsidy_file": _("Subsidy list filed"),
    "subsidy_decide": _("Subsidy batch decided"),
    "subsidy_claim": _("Subsidy claimed"),
    "subsidy_expire": _("Unclaimed subsidy reversed"),
    # The apps above accounts write to the same audit log (audit_write); their actions' names:
    "merchant_create": _("Merchant created"),
    "merchant_update": _("Merchant changed"),
    "merchant_status": _("Merchant status changed"),
    "merchant_user_add": _("Merchant user added"),
    "merchant_user_remove": _("Merchant user removed"),
    "unit_approver_add": _("Unit approver added"),
    "application_submit": _("Form submitted"),
    "application_decide": _("Form decided"),
    "terminal_add": _("Terminal registered"),
    "terminal_assign": _("Terminal assigned"),
    "terminal_status": _("Terminal status changed"),
    "terminal_key_rotate": _("Terminal key changed"),
    "offline_authorise": _("Offline operation authorised"),
    "surcharge_rate_add": _("Surcharge rates set"),
    "record_post": _("Record posted by staff"),
    "record_reject": _("Record rejected"),
    "post_records": _("Records posted by staff"),
    "reject_records": _("Records rejected"),
    "adjust_and_post": _("Record adjusted and posted"),
    "cardflag_resolve": _("Card-vs-account flag resolved"),
    "lostrange_resolve": _("Lost records dealt with"),
    "resolve": _("Resolved"),
    "statement_apply": _("Settlement applied for"),
    "statement_check": _("Statement checked"),
    "statement_approve": _("Statement approved"),
    "statement_pay": _("Statement paid"),
    "settlement_compute": _("Settlement computed"),
    "day_close": _("Daily close"),
    "merchant_refund": _("Merchant refund"),
    "merchant_offender": _("Repeated duplicate charges"),
    "correction_request": _("Correction requested"),
    "correction_decide": _("Correction decided"),
    "close_exception_resolve": _("Daily-close exception resolved"),
    "graduation_close": _("Graduation closure"),
    "api_client_create": _("API client created"),
    "api_client_rotate": _("API client token renewed"),
    # moneyin (issue 13)
    "bank_transfer_send": _("Bank transfer sent to the bank"),
    "bank_transfer_answer": _("Bank answered the transfer"),
    "bank_transfer_timeout": _("Bank did not answer in time"),
    "bank_transfer_reversed": _("Bank transfer reversed"),
    "bank_answer_ignored": _("Late or repeated bank answer ignored"),
    "bank_statement_import": _("Bank statement imported"),
    "online_order_create": _("Online top-up started"),
    "online_order_paid": _("Online top-up paid"),
    "online_order_refund": _("Online top-up refunded"),
    "online_notify_refused": _("Payment notify refused"),
    "online_notify_bad_sign": _("Payment notify with a bad signature refused"),
}
CHANNEL_LABELS = {
    "staff": _("Staff"),
    "kiosk": _("Kiosk"),
    "system": _("System"),
    "terminal": _("Terminal"),
    "api": _("API"),
}
MONEY_KEYS = {"fee", "amount", "previous", "balance", "pending", "net"}  # audit details that are fen
DETAIL_KEY_LABELS = {
    "fee": _("fee (yuan)"),
    "amount": _("amount (yuan)"),
    "first": _("first formal card"),
    "kind": _("kind"),
    "old": _("before"),
    "new": _("after"),
    "payout": _("payout"),
    "changed": _("changed"),
    "batch": _("batch"),
    "old_card": _("old card"),
    "category": _("category"),
    "unit": _("unit"),
    "name": _("name"),
    "added": _("added"),
    "removed": _("removed"),
    "effective_from": _("effective from"),
    "previous": _("previous fee (yuan)"),
    "request": _("request"),
    "requested_by": _("asked by"),
    "approved": _("approved"),
    "operator": _("operator"),
    "account": _("account"),
    "balance": _("balance after (yuan)"),
    "pending": _("pending credit (yuan)"),
    "net": _("net (yuan)"),
    "intake": _("intake"),
    "rows": _("rows"),
    "bad": _("rows with errors"),
    "file": _("file"),
    "created": _("created"),
    "updated": _("updated"),
    "role": _("role"),
    "client": _("client"),
    "scopes": _("scopes"),
    "merchant": _("merchant"),
    "terminal": _("terminal"),
    "status": _("status"),
    "user": _("user"),
    "until": _("until"),
    "day": _("day"),
    "statement": _("statement"),
    "application": _("form"),
    "holders": _("holders"),
    "closure": _("closure"),
    "late": _("late"),
    "offender": _("offender"),
    "rrn": _("reference number"),
    "stan": _("trace number"),
    "code": _("response code"),
    "matched": _("matched"),
    "differences": _("differences"),
    "order": _("order number"),
    "via": _("through"),
    "lines": _("lines"),
    "line": _("line"),
    "filed_by": _("filed by"),
    "card_no": _("card number"),
}
# Words for the codes other apps write into audit details, by detail key (registered at start-up by
# the top layer, desk.apps, which may import every app): merchant roles and statuses, API scopes …
AUDIT_VALUE_LABELS: dict[str, dict] = {}


def audit_value_labels_add(key: str, labels) -> None:
    """More words for the values of one detail key; what is there already wins (card statuses)."""
    AUDIT_VALUE_LABELS[key] = {**dict(labels), **AUDIT_VALUE_LABELS.get(key, {})}


def audit_action_label(action: str) -> str:
    return str(AUDIT_ACTION_LABELS.get(action) or action)


def audit_channel_label(channel: str) -> str:
    return str(CHANNEL_LABELS.get(channel, channel))


def audit_details(data: dict) -> str:
    parts = []
    for key, value in (data or {}).items():
        if key in MONEY_KEYS and isinstance(value, int):
            value = yuan(value)
        elif key == "kind" and value in forms.ADJUSTMENT_LABELS:
            value = forms.ADJUSTMENT_LABELS[value]
        elif key == "kind" and value in FeeSchedule.Kind.values:
            value = FeeSchedule.Kind(value).label
        elif key == "payout" and value in forms.PAYOUT_LABELS:
            value = forms.PAYOUT_LABELS[value]
        elif key in ("old", "new", "status") and value in CardStatus.values:
            value = CardStatus(value).label
        elif isinstance(value, str) and value in AUDIT_VALUE_LABELS.get(key, {}):
            value = AUDIT_VALUE_LABELS[key][value]
        elif key == "category" and value in Category.values:
            value = Category(value).label
        elif isinstance(value, bool):
            value = gettext("yes") if value else gettext("no")
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            labels = AUDIT_VALUE_LABELS.get(key, {})
            value = ", ".join(str(labels.get(v, v)) for v in value) or "-"
        elif value is None:
            value = "-"
        parts.append(f"{DETAIL_KEY_LABELS.get(key, key)}: {value}")
    return "; ".join(parts)


def audit_rows(entries) -> list[dict]:
    return [
        {
            "at": e.at, "action": audit_action_label(e.action), "channel": CHANNEL_LABELS.get(e.channel, e.channel),
            "actor": e.actor, "card": e.card, "reason": e.reason, "details": audit_details(e.data),
        }
        for e in entries
    ]


def purse_of(obj) -> Purse | None:
    """The purse of a holder or a card, or None."""
    if isinstance(obj, Card):
        return obj.purse
    try:
        return obj.purse
    except Purse.DoesNotExist:
        return None


def purse_rows(purse: Purse | None) -> list[tuple]:
    if purse is None:
        return []
    return [
        (_("Account balance (库, yuan)"), yuan(purse.account.balance)),
        (_("Last card balance (卡, yuan)"), yuan(purse.card_balance)),
        (_("Pending credit (过渡余额, yuan)"), yuan(purse.pending)),
    ]


def summary_rows(obj) -> list[tuple]:
    if isinstance(obj, Cardholder):
        rows = [
            (Cardholder._meta.get_field("number").verbose_name, obj.number),
            (forms.PERSON_NAME, obj.name),
            (Cardholder._meta.get_field("id_number").verbose_name, obj.id_number_masked),
            (Cardholder._meta.get_field("category").verbose_name, obj.get_category_display()),
            (Cardholder._meta.get_field("status").verbose_name, obj.get_status_display()),
        ]
    else:
        rows = [
            (Card._meta.get_field("card_no").verbose_name, obj.card_no),
            (Card._meta.get_field("card_type").verbose_name, obj.get_card_type_display()),
            (Card._meta.get_field("status").verbose_name, obj.get_status_display()),
            (Card._meta.get_field("holder").verbose_name, obj.holder or _("anonymous")),
            (Card._meta.get_field("valid_until").verbose_name, obj.valid_until),
        ]
    return rows + purse_rows(purse_of(obj))


# --- the actions --------------------------------------------------------------------

Result = tuple[str, Any]  # (success message, object to show next or None)


@dataclass(frozen=True)
class AdminAction:
    slug: str  # URL segment
    label: Any  # lazy text of the button
    perm: str  # the permission the service requires
    form_class: type
    run: Callable[[Any, Any, dict], Result]  # (request, obj, cleaned_data) -> Result
    applies: Callable[[Any], bool] = lambda obj: True  # whether the button makes sense in obj's state; for
    # cards services.card_action_applies, which reads services.CARD_ACTIONS and TRANSITIONS
    intro: Any = ""
    extra: Callable[[Any], list] = lambda obj: []  # more summary rows for this action
    danger: bool = False

    def url_name(self, model_name: str) -> str:
        return f"accounts_{model_name}_{self.slug.replace('-', '_')}"


def _card_no_msg(text, card, **more):
    return text % {"card_no": card.card_no, **more}


def _limit_in_force():
    try:
        return yuan(services.adjustment_limit())
    except BusinessError:
        return gettext("none in force")


def _fee_in_force(kind):
    try:
        return yuan(services.fee_amount(kind))
    except BusinessError:
        return gettext("none in force")


# Holder actions

def _issue_formal(request, holder, data) -> Result:
    card = services.card_issue_formal(actor=request.user, holder=holder, fee_payment=data["fee_payment"])
    return gettext("Formal card %(card_no)s issued to %(holder)s.") % {"card_no": card.card_no, "holder": holder}, None


def _close_holder(request, holder, data) -> Result:
    journal = services.account_close(actor=request.user, holder=holder, payout=data["payout"], reason=data["reason"])
    paid = journal.postings.filter(account__purse__holder=holder).values_list("amount", flat=True).first() if journal else 0
    return gettext("The account of %(holder)s is closed; %(amount)s yuan paid out.") % {
        "holder": holder, "amount": yuan(paid or 0)}, None


def _adjust(request, holder, data) -> Result:
    req = services.adjustment_request(actor=request.user, holder=holder, kind=data["kind"], amount=data["amount_fen"],
                                      reason=data["reason"], bank_ref=data.get("bank_ref", ""))
    return gettext("Adjustment request #%(request)s filed: %(kind)s, %(amount)s yuan. Nothing is posted until "
                   "another person approves it (R-ADJ-1).") % {
        "request": req.pk, "kind": forms.ADJUSTMENT_LABELS[data["kind"]], "amount": yuan(data["amount_fen"])}, None


def _kiosk_password(request, holder, data) -> Result:
    services.holder_set_kiosk_password(actor=request.user, holder=holder, raw_password=data["password1"])
    return gettext("The kiosk password of %(holder)s is set.") % {"holder": holder}, None


def _reopen(request, holder, data) -> Result:
    services.holder_reopen(actor=request.user, holder=holder, reason=data["reason"])
    return gettext("The account of %(holder)s is open again; issue a card as for a new applicant.") % {"holder": holder}, None


def _holder_active(holder) -> bool:
    return holder.status == Cardholder.Status.ACTIVE


HOLDER_ACTIONS = [
    AdminAction("issue-formal", _("Issue formal card"), "accounts.issue_card", forms.IssueFormalForm, _issue_formal,
                applies=_holder_active, intro=_("Issue a formal card to the applicant in person (R-ISSUE-1, R-CARD-2)."),
                extra=lambda h: [(_("Card fee in force (yuan)"), _fee_in_force(FeeSchedule.Kind.NEW_CARD))]),
    AdminAction("close", _("Close account"), "accounts.close_account", forms.CloseAccountForm, _close_holder,
                applies=_holder_active, danger=True,
                intro=_("Close every live card, pay out the balance and close the account (R-CLOSE-1, R-CLOSE-3). "
                        "Subsystem functions must be closed first.")),
    AdminAction("adjust", _("Adjust account"), "accounts.add_adjustmentrequest", forms.AdjustForm, _adjust,
                applies=_holder_active,
                intro=_("When the bank's records and the card system's disagree, ask for an adjustment of the "
                        "account (R-ADJ-1). Another person approves it before anything is posted."),
                extra=lambda h: [(_("At most per adjustment (yuan)"), _limit_in_force())]),
    AdminAction("kiosk-password", _("Set kiosk password"), "accounts.change_cardholder", forms.KioskPasswordForm,
                _kiosk_password, intro=_("The password the holder uses at the self-service kiosk.")),
    AdminAction("reopen", _("Reopen account"), "accounts.issue_card", forms.ReasonForm, _reopen,
                applies=lambda h: h.status == Cardholder.Status.CLOSED,
                intro=_("A closed holder who applies again is treated as a new applicant (R-CLOSE-4).")),
]


# Card actions

def _report_loss(request, card, data) -> Result:
    services.card_report_loss(card=card, actor=request.user, channel="staff", reason=data["reason"])
    return _card_no_msg(gettext("Card %(card_no)s is reported lost; every terminal now refuses it."), card), None


def _reverse_loss(request, card, data) -> Result:
    card = services.card_reverse_loss(card=card, actor=request.user, reason=data["reason"])
    return _card_no_msg(gettext("The loss report of card %(card_no)s is reversed; the card is %(status)s."), card,
                        status=card.get_status_display()), None


def _freeze(request, card, data) -> Result:
    services.card_freeze(card=card, actor=request.user, channel="staff", reason=data["reason"])
    return _card_no_msg(gettext("Card %(card_no)s is frozen."), card), None


def _unfreeze(request, card, data) -> Result:
    services.card_unfreeze(card=card, actor=request.user, reason=data["reason"])
    return _card_no_msg(gettext("Card %(card_no)s is unfrozen."), card), None


def _replace(request, card, data) -> Result:
    new = services.card_replace(card=card, actor=request.user, reason=data["reason"], fee_payment=data["fee_payment"])
    return _card_no_msg(gettext("Card %(card_no)s is replaced by the new card %(new)s."), card, new=new.card_no), new


def _extend(request, card, data) -> Result:
    card = services.card_extend(card=card, actor=request.user, until=data["until"], reason=data["reason"],
                                proof_end_date=data["proof_end_date"])
    return _card_no_msg(gettext("Card %(card_no)s is now valid until %(until)s."), card, until=card.valid_until), None


def _close_card(request, card, data) -> Result:
    journal = services.account_close(actor=request.user, card=card, payout=data["payout"], reason=data["reason"])
    paid = journal.postings.filter(account__purse__cards=card).values_list("amount", flat=True).first() if journal else 0
    return _card_no_msg(gettext("Card %(card_no)s is closed; %(amount)s yuan paid out."), card, amount=yuan(paid or 0)), None


def _card_applies(action: str) -> Callable[[Any], bool]:
    return lambda card: services.card_action_applies(card, action)


CARD_ACTIONS = [
    AdminAction("report-loss", _("Report loss"), "accounts.report_loss", forms.OptionalReasonForm, _report_loss,
                applies=_card_applies("report_loss"),
                intro=_("From the report on every terminal refuses the card (R-LOSS-1).")),
    AdminAction("reverse-loss", _("Reverse loss"), "accounts.report_loss", forms.ReasonForm, _reverse_loss,
                applies=_card_applies("reverse_loss"),
                intro=_("Done in person with ID; the card then works again (R-LOSS-2).")),
    AdminAction("freeze", _("Freeze"), "accounts.freeze_card", forms.ReasonForm, _freeze,
                applies=_card_applies("freeze"),
                intro=_("Freeze a card whose on-card balance and account disagree (R-FREEZE-1).")),
    AdminAction("unfreeze", _("Unfreeze"), "accounts.freeze_card", forms.ReasonForm, _unfreeze,
                applies=_card_applies("unfreeze"),
                intro=_("In person with ID, once the difference is resolved (R-FREEZE-1).")),
    AdminAction("replace", _("Replace card"), "accounts.replace_card", forms.ReplaceForm, _replace,
                applies=_card_applies("replace"),
                intro=_("A new card of the same type; the old one is dead for good and the balance carries over "
                        "(R-REPLACE-1, R-FEE-3)."),
                extra=lambda c: [(_("Replacement fee in force (yuan)"), _fee_in_force(FeeSchedule.Kind.REPLACEMENT))]),
    AdminAction("extend", _("Extend validity"), "accounts.extend_card", forms.ExtendForm, _extend,
                applies=_card_applies("extend"), intro=_("Extend on the proofs of R-CARD-6, R-CARD-7, R-CARD-8.")),
    AdminAction("close", _("Close card"), "accounts.close_account", forms.CloseAccountForm, _close_card,
                applies=_card_applies("close"), danger=True,
                intro=_("Settle and close a consumption card (R-CLOSE-3); real-name cards close with the holder's account.")),
]

ACTIONS_BY_MODEL = {Cardholder: HOLDER_ACTIONS, Card: CARD_ACTIONS}


def action_buttons(request, obj, *, next_url: str | None = None) -> list[dict]:
    """The buttons `request.user` may press for `obj` in its current state."""
    model_name = obj._meta.model_name
    buttons = []
    for action in ACTIONS_BY_MODEL[type(obj)]:
        if request.user.has_perm(action.perm) and action.applies(obj):
            url = reverse(f"admin:{action.url_name(model_name)}", args=[obj.pk])
            if next_url:
                url += "?" + _query_next(next_url)
            buttons.append({"label": action.label, "url": url, "slug": action.slug, "danger": action.danger})
    return buttons


def _query_next(next_url: str) -> str:
    return urlencode({"next": next_url})


def _safe_next(request) -> str | None:
    url = request.POST.get("next") or request.GET.get("next")
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return url
    return None


def _change_url(obj) -> str:
    return reverse(f"admin:accounts_{obj._meta.model_name}_change", args=[obj.pk])


def action_view(model_admin, request, object_id: str, action: AdminAction):
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404
    if not model_admin.has_view_or_change_permission(request, obj) or not request.user.has_perm(action.perm):
        raise PermissionDenied
    next_url = _safe_next(request)
    if request.method == "POST":
        form = action.form_class(request.POST, obj=obj)
        if form.is_valid():
            try:
                message, shown = action.run(request, obj, form.cleaned_data)
            except BusinessError as exc:
                messages.error(request, " ".join(str(m) for m in exc.messages))
            else:
                messages.success(request, message)
                return HttpResponseRedirect(next_url or _change_url(shown or obj))
    else:
        form = action.form_class(obj=obj)
    if not action.applies(obj):
        messages.warning(request, gettext("This action does not apply to the current state; the service will refuse it."))
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": action.label,
        "subtitle": str(obj),
        "opts": opts,
        "app_label": opts.app_label,
        "original": obj,
        "form": form,
        "action": action,
        "summary": summary_rows(obj) + list(action.extra(obj)),
        "next": next_url,
        "cancel_url": next_url or _change_url(obj),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/accounts/action_form.html", context)


# --- batch import (R-ISSUE-2) -------------------------------------------------------

def batch_import_view(model_admin, request):
    if not request.user.has_perm("accounts.import_batch"):
        raise PermissionDenied
    row_errors, rows_checked = None, None
    if not services.batch_units_for(request.user).exists():
        messages.warning(request, gettext("You are not the batch agent of any unit yet; the card centre ties your "
                                          "login to your unit (R-ISSUE-2)."))
    if request.method == "POST":
        form = forms.BatchImportForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            upload = data["file"]
            try:
                rows = None
                if upload:
                    rows = batch_file_parse(content=upload.read(), filename=upload.name)
                    rows_checked = len(rows)
                else:
                    rows_checked = data["quantity"]
                batch = services.card_batch_issue(
                    actor=request.user, unit=data["unit"], card_type=data["card_type"], rows=rows,
                    quantity=data["quantity"] or 0, filename=upload.name if upload else "",
                    fee_payment=data["fee_payment"],
                )
            except BatchRejected as exc:
                row_errors = exc.row_errors
                messages.error(request, ngettext(
                    "%(bad)d of %(total)d rows has errors; nothing was applied. Correct the file and upload it again.",
                    "%(bad)d of %(total)d rows have errors; nothing was applied. Correct the file and upload it again.",
                    len(row_errors),
                ) % {"bad": len(row_errors), "total": rows_checked or 0})
            except BusinessError as exc:
                messages.error(request, " ".join(str(m) for m in exc.messages))
            else:
                url = _change_url(batch)
                messages.success(request, format_html(
                    "{} <a href=\"{}\">{}</a>",
                    ngettext("%(n)d row processed: %(n)d card issued, fees %(fees)s yuan.",
                             "%(n)d rows processed: %(n)d cards issued, fees %(fees)s yuan.", batch.rows)
                    % {"n": batch.rows, "fees": yuan(batch.fee_total)},
                    url, gettext("Batch #%(id)s") % {"id": batch.pk},
                ))
                return HttpResponseRedirect(url)
    else:
        form = forms.BatchImportForm(user=request.user)
    opts = IssueBatch._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Import batch"),
        "opts": opts,
        "app_label": opts.app_label,
        "form": form,
        "row_errors": row_errors,
        "rows_checked": rows_checked,
        "rows_in_file_text": gettext("%(rows)s rows in the file."),
        "processing_text": gettext("Processing %(rows)s rows: every row is checked, then the cards are issued. "
                              "This can take up to a minute for 5000 rows; please wait and do not submit again."),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/accounts/issuebatch/import.html", context)


def holder_history_rows(holder, limit: int = 100) -> list[dict]:
    return audit_rows(selectors.holder_history(holder=holder).order_by("-id")[:limit])


def card_history_rows(card, limit: int = 100) -> list[dict]:
    return audit_rows(selectors.card_history(card=card).order_by("-id")[:limit])
