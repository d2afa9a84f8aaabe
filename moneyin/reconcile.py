"""Daily reconciliation against the bank's statement file (R-ADJ-1, M§34).

statement_import() reads the bank's CSV for one day, refuses the whole file on any bad row (so a
bad file changes nothing), and compares it with the transfers the campus credited that business
day, by RRN: matched, long (长款: the bank debited a bank card the campus did not credit), short
(短款: the campus credited what the bank does not show) or amount differs. Each difference is moved
at once between bank clearing and suspense, so bank clearing agrees with the bank's statement and
suspense holds what is to be explained; it is then resolved by one of the four adjustments of
R-ADJ-1 through accounts' own maker-checker (adjustment_request / adjustment_decide): one person
asks (difference_adjustment_request), another approves.
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

from .models import BankStatement, BankTransfer, StatementDifference

HEADER = ["date", "rrn", "stan", "bank_card", "campus_account", "campus_card", "amount"]
AMOUNT = re.compile(r"^(\d{1,10})\.(\d{2})$")
RRN = re.compile(r"^\d{12}$")
MAX_BYTES = 20 * 1024 * 1024
# Which adjustments clear which side (the suspense entry made when the difference was found):
# a long difference is money the holder is owed; a short one is money the holder must make good.
KINDS_FOR = {
    "long": (Adjustment.REFUND_HOLDER,),
    "short": (Adjustment.DEBIT_BANK_CARD, Adjustment.DEBIT_CAMPUS_CARD, Adjustment.HOLDER_PAYS_IN),
}


def _rows(content: bytes | str, day: dt.date) -> list[dict]:
    if isinstance(content, bytes):
        if len(content) > MAX_BYTES:
            raise BusinessError(_("The statement file is too large."))
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BusinessError(_("The statement file is not UTF-8 text.")) from None
    reader = csv.reader(io.StringIO(content))
    header = next(reader, None)
    if [h.strip() for h in header or []] != HEADER:
        raise BusinessError(_("The statement file must start with the header: %(header)s.") % {"header": ",".join(HEADER)})
    rows, errors, seen = [], [], set()
    for n, raw in enumerate(reader, start=2):
        if not raw or all(not c.strip() for c in raw):
            continue
        if len(raw) != len(HEADER):
            errors.append(_("Row %(n)s: %(count)s columns, expected %(expected)s.") % {
                "n": n, "count": len(raw), "expected": len(HEADER)})
            continue
        row = dict(zip(HEADER, (c.strip() for c in raw), strict=True))
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
        if not RRN.match(row["rrn"]):
            errors.append(_("Row %(n)s: bad reference number \"%(value)s\".") % {"n": n, "value": row["rrn"][:20]})
        elif row["rrn"] in seen:
            errors.append(_("Row %(n)s: reference number %(value)s appears twice.") % {"n": n, "value": row["rrn"]})
        seen.add(row["rrn"])
        row["n"] = n
        rows.append(row)
    if errors:
        raise BusinessError(" ".join(errors[:20]) + (_(" (and %(more)s more)") % {"more": len(errors) - 20}
                                                      if len(errors) > 20 else ""))
    return rows


def _post_difference(*, statement: BankStatement, kind: str, rrn: str, bank: int, campus: int, holder, transfer,
                     actor) -> StatementDifference:
    diff = bank - campus
    bank_acc, suspense = system_account(LedgerAccount.Kind.BANK), system_account(LedgerAccount.Kind.SUSPENSE)
    journal = journal_post(kind=Journal.Kind.RECON, actor=actor, source=f"recon-diff:{statement.day}:{rrn}",
                           reason=f"对帐差异 {statement.day} RRN {rrn}",
                           lines=[(bank_acc, diff), (suspense, -diff)])
    return StatementDifference.objects.create(statement=statement, kind=kind, rrn=rrn, holder=holder,
                                              transfer=transfer, bank_amount=bank, campus_amount=campus,
                                              journal=journal)


@transaction.atomic
def statement_import(*, actor, day: dt.date, content: bytes | str, filename: str = "") -> BankStatement:
    """Import the bank's statement of `day` and reconcile it (once per day)."""
    permission_require(actor, "moneyin.reconcile_bank")
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise BusinessError(_("The statement needs its business day."))
    if day > business_day():
        raise BusinessError(_("A statement cannot be for a day that has not come."))
    rows = _rows(content, day)
    if BankStatement.objects.select_for_update().filter(day=day).exists():
        raise BusinessError(_("The statement of %(day)s was already imported.") % {"day": day})
    campus = {t.rrn: t for t in BankTransfer.objects.select_related("holder").filter(
        status=BankTransfer.Status.APPROVED, journal__business_day=day)}
    statement = BankStatement.objects.create(
        day=day, filename=(filename or "")[:200], rows=len(rows), imported_by=actor,
        bank_total=sum(r["fen"] for r in rows), campus_total=sum(t.amount for t in campus.values()),
    )
    matched = 0
    for row in rows:
        t = campus.pop(row["rrn"], None)
        if t is not None and t.amount == row["fen"]:
            matched += 1
        elif t is not None:
            _post_difference(statement=statement, kind=StatementDifference.Kind.AMOUNT, rrn=t.rrn, bank=row["fen"],
                             campus=t.amount, holder=t.holder, transfer=t, actor=actor)
        else:
            # The bank debited a card the campus did not credit: a reversed or declined transfer of
            # ours, or one we never sent; the holder by the campus account the bank quotes.
            other = BankTransfer.objects.select_related("holder").filter(rrn=row["rrn"]).first()
            holder = other.holder if other else Cardholder.objects.filter(number=row["campus_account"]).first()
            _post_difference(statement=statement, kind=StatementDifference.Kind.LONG, rrn=row["rrn"], bank=row["fen"],
                             campus=0, holder=holder, transfer=other, actor=actor)
    for t in sorted(campus.values(), key=lambda t: t.rrn):
        _post_difference(statement=statement, kind=StatementDifference.Kind.SHORT, rrn=t.rrn, bank=0,
                         campus=t.amount, holder=t.holder, transfer=t, actor=actor)
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
    d = StatementDifference.objects.select_for_update(of=("self",)).select_related("request", "statement").get(pk=difference.pk)
    side = "long" if d.difference > 0 else "short"
    if kind not in KINDS_FOR[side]:
        raise BusinessError(_("This difference is cleared by: %(kinds)s.") % {
            "kinds": ", ".join(str(_label(k)) for k in KINDS_FOR[side])})
    if d.holder is None:
        raise BusinessError(_("The bank's row names no cardholder of ours; ask the bank before adjusting."))
    if d.request is not None and d.request.status != AdjustmentRequest.Status.REJECTED:
        raise BusinessError(_("An adjustment for this difference is already %(status)s.") % {
            "status": d.request.get_status_display()})
    req = adjustment_request(actor=actor, holder=d.holder, kind=kind, amount=abs(d.difference), reason=reason,
                             bank_ref=f"RRN {d.rrn} {d.statement.day}")
    d.request = req
    d.save(update_fields=["request"])
    return req


def _label(kind: str) -> str:
    return ADJUSTMENT_LABELS.get(kind, kind)
