"""Receipts (凭条): what the holder takes home after a counter action, printed from the audit entry
the service wrote, so a receipt can be printed again and always says what was done."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from accounts.admin_views import CHANNEL_LABELS
from accounts.formatting import yuan
from accounts.forms import FEE_PAYMENT_LABELS, PAYOUT_LABELS
from accounts.models import AuditLog, CardStatus, LedgerAccount

TITLES = {
    "card_issue": _("Card issue"),
    "card_report_loss": _("Loss report"),
    "card_reverse_loss": _("Loss cancelled"),
    "card_replace": _("Card replacement"),
    "card_freeze": _("Card frozen"),
    "card_unfreeze": _("Card unfrozen"),
    "card_extend": _("Validity extended"),
    "cash_deposit": _("Cash deposit"),
    "account_close": _("Account closed"),
}
PAID_FROM = {LedgerAccount.Kind.CASH: "cash", LedgerAccount.Kind.PURSE: "purse", LedgerAccount.Kind.BANK: "bank"}


def has_receipt(entry: AuditLog) -> bool:
    return entry.action in TITLES and entry.channel == "staff"


def receipt_no(entry: AuditLog) -> str:
    return f"{entry.at:%Y%m%d}-{entry.pk:06d}"


def _paid_by(entry: AuditLog) -> str:
    """How the fee of the entry's journal was paid: the account it was debited to."""
    if entry.journal_id is None:
        return ""
    posting = entry.journal.postings.filter(amount__gt=0).select_related("account").first()
    key = PAID_FROM.get(posting.account.kind) if posting else None
    return str(FEE_PAYMENT_LABELS.get(key, "")) if key else ""


def receipt_lines(entry: AuditLog) -> list[tuple]:
    """(label, value) rows of the receipt, in the order a holder reads them."""
    d, card = entry.data or {}, entry.card
    rows: list[tuple] = []
    if entry.holder is not None:
        rows += [(_("Cardholder"), entry.holder.name), (_("Staff/student number"), entry.holder.number)]
    if card is not None:
        label = _("New card number") if entry.action == "card_replace" else _("Card number")
        rows += [(label, card.card_no), (_("Card type"), card.get_card_type_display())]
    a = entry.action
    if a == "card_replace":
        rows.append((_("Old card (no longer usable)"), d.get("old_card", "")))
    if a in ("card_issue", "card_replace"):
        fee = d.get("fee") or 0
        rows.append((_("Card fee (yuan)"), yuan(fee)))
        if fee:
            rows.append((_("Paid by"), _paid_by(entry)))
        rows.append((_("Valid until"), card.valid_until.isoformat() if card else ""))
    if a in ("card_report_loss", "card_reverse_loss", "card_freeze", "card_unfreeze"):
        new = d.get("new")
        rows.append((_("Card status now"), CardStatus(new).label if new in CardStatus.values else new))
        rows.append((_("Effective at"), entry.at))
    if a == "card_extend":
        rows += [(_("Valid until before"), d.get("old", "")), (_("Valid until now"), d.get("new", ""))]
    if a == "cash_deposit":
        rows += [(_("Cash received (yuan)"), yuan(d.get("amount"))),
                 (_("Account balance after (yuan)"), yuan(d.get("balance"))),
                 (_("Waiting for the card (过渡余额, yuan)"), yuan(d.get("pending")))]
    if a == "account_close":
        rows += [(_("Paid out (yuan)"), yuan(d.get("amount") or 0)),
                 (_("Paid out"), PAYOUT_LABELS.get(d.get("payout"), d.get("payout", "")))]
    if entry.reason:
        rows.append((_("Reason"), entry.reason))
    return rows


def receipt_note(entry: AuditLog):
    return {
        "card_report_loss": _("Every terminal refuses the card from the time above. To use it again, come with your ID."),
        "card_replace": _("The old card is refused everywhere; the balance of the account carries over to the new card."),
        "cash_deposit": _("The money is in your account now; your card takes it at the next top-up point (圈存)."),
        "card_issue": _("Keep your card and your query password apart. Report a lost card at once at a kiosk."),
    }.get(entry.action, "")


def receipt(entry: AuditLog) -> dict:
    return {"entry": entry, "title": TITLES.get(entry.action, entry.action), "no": receipt_no(entry),
            "lines": receipt_lines(entry), "note": receipt_note(entry),
            "channel": CHANNEL_LABELS.get(entry.channel, entry.channel)}
