"""Daily reconciliation against the bank's and the payment channel's statement files (R-ADJ-1,
M§34).

statement_import() reads one day's CSV of one source, refuses the whole file on any bad row (a bad
file changes nothing), and compares it with what the campus booked that business day, by
reference: the bank's RRN against the transfers credited; the channel's order number against the
online top-ups paid (and, as R<order>, refunded). Each reference is matched, long (长款: the
bank/channel took money the campus did not credit), short (短款: the campus credited what the
statement does not show) or amount differs. Each difference is moved at once between the source's
clearing account and suspense, so clearing agrees with the statement and suspense holds what is
to be explained; it is then resolved by one of the four adjustments of R-ADJ-1 through accounts'
own maker-checker (adjustment_request / adjustment_decide): one person asks
(difference_adjustment_request), another approves.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.errors import BusinessError
from accounts.forms import ADJUSTMENT_LABELS
from accounts.ledger import journal_post
from accounts.models import AdjustmentRequest, Cardholder, Journal, LedgerAccount
from accounts.services import Adjustment, adjustment_request, audit_write, permission_require, system_account
from accounts.timeutil import business_day

from .models import BankStatement, BankTransfer, OnlineOrder, StatementDifference

SOURCE = BankStatement.Source
HEADERS = {
    SOURCE.BANK: ["date", "rrn", "stan", "bank_card", "campus_account", "campus_card", "amount"],
    SOURCE.CHANNEL: ["date", "out_trade_no", "trade_no", "type", "amount"],
}
CLEARING = {SOURCE.BANK: LedgerAccount.Kind.BANK, SOURCE.CHANNEL: LedgerAccount.Kind.CHANNEL}
HEADER = HEADERS[SOURCE.BANK]
AMOUNT = re.compile(r"^(\d{1,10})\.(\d{2})$")
RRN = re.compile(r"^\d{12}$")
ORDER_NO = re.compile(r"^[A-Za-z0-9_-]{1,30}$")
MAX_BYTES = 20 * 1024 * 1024
# Which adjustments clear which side (the suspense entry made when the difference was found): a
# long difference is money the holder is owed; a short one is money the holder must make good.
# The bank card can only be debited through the bank, so not for a channel's difference.
KINDS_FOR = {
    (SOURCE.BANK, "long"): (Adjustment.REFUND_HOLDER,),
    (SOURCE.BANK, "short"): (Adjustment.DEBIT_BANK_CARD, Adjustment.DEBIT_CAMPUS_CARD, Adjustment.HOLDER_PAYS_IN),
    (SOURCE.CHANNEL, "long"): (Adjustment.REFUND_HOLDER,),
    (SOURCE.CHANNEL, "short"): (Adjustment.DEBIT_CAMPUS_CARD, Adjustment.HOLDER_PAYS_IN),
}


def kinds_for(difference: StatementDifference) -> tuple[str, ...]:
    return KINDS_FOR[(difference.statement.source, "long" if difference.difference > 0 else "short")]


def _rows(content: bytes | str, day: dt.date, source: str) -> list[dict]:
    header_wanted = HEADERS[source]
    if isinstance(content, bytes):
        if len(content) > MAX_BYTES:
            raise BusinessError(_("The statement file is too large."))
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BusinessError(_("The statement file is not UTF-8 text.")) from None
    reader = csv.reader(io.StringIO(content))
    header = next(reader, None)
    if [h.strip() for h in header or []] != header_wanted:
        raise BusinessError(_("The statement file must start with the header: %(header)s.") % {
            "header": ",".join(header_wanted)})
    rows, errors, seen = [], [], set()
    for n, raw in enumerate(reader, start=2):
        if not raw or all(not c.strip() for c in raw):
            continue
        if len(raw) != len(header_wanted):
            errors.append(_("Row %(n)s: %(count)s columns, expected %(expected)s.") % {
                "n": n, "count": len(raw), "expected": len(header_wanted)})
            continue
        row = dict(zip(header_wanted, (c.strip() for c in raw), strict=True))
        try:
            on = dt.date.fromisoformat(row["date"]) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["date"]) else None
        except ValueError:
            on = None
        if on is None:
            errors.append(_("Row %(n)s: bad date \"%(value)s\" (YYYY-MM-DD).") % {"n": n, "value": row["date"][:20]})
        elif on != day:
            errors.append(_("Row %(n)s: date %(value)s is not the statement's day %(day)s.") % {
                "n": n, "value": on, "day": day})
        m = AMOUNT.match(row["amount"])
        if not m or int(m.group(1)) * 100 + int(m.group(2)) == 0:
            errors.append(_("Row %(n)s: bad amount \"%(value)s\" (yuan with two decimals, above zero).") % {
                "n": n, "value": row["amount"][:20]})
        else:
            row["fen"] = int(m.group(1)) * 100 + int(m.group(2))
        if source == SOURCE.BANK:
            ref, ok = row["rrn"], bool(RRN.match(row["rrn"]))
        else:
            # A refund is the channel paying money back: its own reference, a negative amount.
            ok = bool(ORDER_NO.match(row["out_trade_no"])) and row["type"] in ("pay", "refund")
            ref = ("R" if row["type"] == "refund" else "") + row["out_trade_no"]
            if row["type"] == "refund" and "fen" in row:
                row["fen"] = -row["fen"]
        if not ok:
            errors.append(_("Row %(n)s: bad reference number \"%(value)s\".") % {"n": n, "value": ref[:32]})
        elif ref in seen:
            errors.append(_("Row %(n)s: reference number %(value)s appears twice.") % {"n": n, "value": ref})
        seen.add(ref)
        row["ref"], row["n"] = ref, n
        rows.append(row)
    if errors:
        raise BusinessError(" ".join(errors[:20]) + (_(" (and %(more)s more)") % {"more": len(errors) - 20}
                                                      if len(errors) > 20 else ""))
    return rows


def _campus_side(source: str, day: dt.date) -> dict[str, dict]:
    """What the campus booked on `day`, by the statement's reference: signed fen, holder, row."""
    if source == SOURCE.BANK:
        return {t.rrn: {"fen": t.amount, "holder": t.holder, "transfer": t, "order": None}
                for t in BankTransfer.objects.select_related("holder").filter(
                    status=BankTransfer.Status.APPROVED, journal__business_day=day)}
    out = {o.out_trade_no: {"fen": o.amount, "holder": o.holder, "transfer": None, "order": o}
           for o in OnlineOrder.objects.select_related("holder").filter(journal__business_day=day)}
    out.update({"R" + o.out_trade_no: {"fen": -o.amount, "holder": o.holder, "transfer": None, "order": o}
                for o in OnlineOrder.objects.select_related("holder").filter(refund_journal__business_day=day)})
    return out


def _unbooked(source: str, row: dict) -> dict:
    """The campus's knowledge of a statement row it did not book that day: the transfer or order
    under that reference (reversed, declined, unpaid) and its holder, else the holder the bank names."""
    if source == SOURCE.BANK:
        t = BankTransfer.objects.select_related("holder").filter(rrn=row["ref"]).first()
        holder = t.holder if t else Cardholder.objects.filter(number=row["campus_account"]).first()
        return {"fen": 0, "holder": holder, "transfer": t, "order": None}
    o = OnlineOrder.objects.select_related("holder").filter(out_trade_no=row["out_trade_no"]).first()
    return {"fen": 0, "holder": o.holder if o else None, "transfer": None, "order": o}


@transaction.atomic
def statement_import(*, actor, day: dt.date, content: bytes | str, filename: str = "",
                     source: str = SOURCE.BANK) -> BankStatement:
    """Import the statement of `day` from the bank or the payment channel and reconcile it (once
    per day and source)."""
    permission_require(actor, "moneyin.reconcile_bank")
    if source not in SOURCE.values:
        raise BusinessError(_("Unknown statement source."))
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise BusinessError(_("The statement needs its business day."))
    if day > business_day():
        raise BusinessError(_("A statement cannot be for a day that has not come."))
    rows = _rows(content, day, source)
    if BankStatement.objects.select_for_update().filter(day=day, source=source).exists():
        raise BusinessError(_("The statement of %(day)s was already imported.") % {"day": day})
    campus = _campus_side(source, day)
    statement = BankStatement.objects.create(
        day=day, source=source, filename=(filename or "")[:200], rows=len(rows), imported_by=actor,
        bank_total=sum(r["fen"] for r in rows), campus_total=sum(c["fen"] for c in campus.values()),
    )
    clearing = system_account(CLEARING[source])
    suspense = system_account(LedgerAccount.Kind.SUSPENSE)

    def difference(kind, ref, stated, booked):
        diff = stated - booked
        journal = journal_post(kind=Journal.Kind.RECON, actor=actor, source=f"recon-diff:{source}:{day}:{ref}"[:80],
                               reason=f"对帐差异 {statement.get_source_display()} {day} {ref}",
                               lines=[(clearing, diff), (suspense, -diff)])
        StatementDifference.objects.create(statement=statement, kind=kind, rrn=ref, holder=booked_row["holder"],
                                           transfer=booked_row["transfer"], order=booked_row["order"],
                                           bank_amount=stated, campus_amount=booked, journal=journal)

    matched = 0
    for row in rows:
        booked_row = campus.pop(row["ref"], None)
        if booked_row is not None and booked_row["fen"] == row["fen"]:
            matched += 1
        elif booked_row is not None:
            difference(StatementDifference.Kind.AMOUNT, row["ref"], row["fen"], booked_row["fen"])
        else:
            booked_row = _unbooked(source, row)
            difference(StatementDifference.Kind.LONG if row["fen"] > 0 else StatementDifference.Kind.SHORT,
                       row["ref"], row["fen"], 0)
    for ref, booked_row in sorted(campus.items()):
        difference(StatementDifference.Kind.SHORT if booked_row["fen"] > 0 else StatementDifference.Kind.LONG,
                   ref, 0, booked_row["fen"])
    statement.matched = matched
    statement.save(update_fields=["matched"])
    audit_write(action="bank_statement_import", actor=actor, reason=statement.filename, day=str(day),
                rows=len(rows), matched=matched, differences=statement.differences.count())
    return statement


@transaction.atomic
def difference_adjustment_request(*, actor, difference: StatementDifference, kind: str,
                                  reason: str) -> AdjustmentRequest:
    """Ask for the adjustment (R-ADJ-1) that clears one difference; another person approves it
    through accounts' maker-checker (adjustment_decide). Only the kinds that clear the difference's
    side, for exactly its amount."""
    d = StatementDifference.objects.select_for_update(of=("self",)).select_related("request", "statement").get(
        pk=difference.pk)
    allowed = kinds_for(d)
    if kind not in allowed:
        raise BusinessError(_("This difference is cleared by: %(kinds)s.") % {
            "kinds": ", ".join(str(ADJUSTMENT_LABELS.get(k, k)) for k in allowed)})
    if d.holder is None:
        raise BusinessError(_("The bank's row names no cardholder of ours; ask the bank before adjusting."))
    if d.request is not None and d.request.status != AdjustmentRequest.Status.REJECTED:
        raise BusinessError(_("An adjustment for this difference is already %(status)s.") % {
            "status": d.request.get_status_display()})
    req = adjustment_request(actor=actor, holder=d.holder, kind=kind, amount=abs(d.difference), reason=reason,
                             bank_ref=f"{d.rrn} {d.statement.day}")
    d.request = req
    d.save(update_fields=["request"])
    return req
