"""Subsidies (补助): import a list, a second person approves, issue through the ledger, claim at
a top-up point through the pending-credit path, reverse what is unclaimed at expiry.

Money, all through accounts.ledger.journal_post:
- approval (issue):  subsidy funding (sub_fund, debit)  → subsidies not yet claimed (subsidy, credit)
- claim at a terminal: subsidy (debit) → the holder's purse (credit), and the purse's pending credit
  (过渡余额) rises by the same amount, so the top-up point writes it to the card as a DEPOSIT with
  operator_no 0 (POS-PROTOCOL.md 0x40/0xC0) and posting clears the pending credit as for a refund.
- expiry: subsidy (debit) → sub_fund (credit): the unclaimed amount goes back to the school.

Locks, in the order every writer here takes them: purse, subsidy lines (by id), ledger accounts
(journal_post, by id); posting takes purse then accounts, so no cycle.

The merchant kinds of a batch say where it may be claimed. Protocol v1 lets only top-up points
(merchant_kind 4) ask for pending credit (0x40; others get result 5), and a card carries one purse,
so once claimed the money can be spent anywhere: a batch limited to other kinds could never be
claimed, and is refused when filed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from . import imports
from .errors import BusinessError
from .imports import BatchRejected
from .ledger import journal_post
from .models import AuditLog, Cardholder, Journal, LedgerAccount, Purse
from .parsing import DATE_MAX
from .services import _audit, _reason_required, _require, system_account
from .subsidy_models import SUBSIDY_MERCHANT_KINDS, TOPUP_KIND, SubsidyBatch, SubsidyLine
from .timeutil import business_day

# A guard against a typo (an amount in fen typed as yuan), far above any real subsidy; not a
# business limit the school sets.
LINE_MAX_FEN = 10_000_000  # 100,000.00 yuan
HEADERS = {
    "number": "number", "学号/工号": "number", "工号": "number", "学号": "number", "编号": "number",
    "amount": "amount", "金额": "amount", "补助金额": "amount", "金额（元）": "amount", "金额(元)": "amount",
    "reason": "reason", "事由": "reason", "补助事由": "reason", "备注": "reason",
    "expires_on": "expires_on", "有效期至": "expires_on", "截止日期": "expires_on",
}
COLUMN_LABELS = {
    "number": pgettext_lazy("import column", "number"),
    "amount": pgettext_lazy("import column", "amount"),
    "reason": pgettext_lazy("import column", "reason"),
    "expires_on": pgettext_lazy("import column", "expires_on"),
}
AMOUNT = re.compile(r"[+-]?[0-9]{1,30}(\.[0-9]{1,10})?")
KIND_CODES = [code for code, _label in SUBSIDY_MERCHANT_KINDS]


@dataclass
class Preview:
    """What a file would file: the clean lines and, per file row, what stops it."""

    lines: list[dict] = field(default_factory=list)
    problems: list[tuple[int, list[str]]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(line["amount"] for line in self.lines)


# --- reading and checking a list (nothing written) ------------------------------------------

def subsidy_file_read(*, content: bytes, filename: str) -> list[dict]:
    """Rows of a CSV or XLSX list as plain strings (dates ISO), so a preview can carry them."""
    rows = imports.batch_file_parse(content=content, filename=filename, headers=HEADERS)
    out = []
    for row in rows:
        clean = {}
        for key, value in row.items():
            if isinstance(value, dt.datetime):
                value = value.date()
            clean[key] = value.isoformat() if isinstance(value, dt.date) else value
        out.append(clean)
    return out


def _column(name: str) -> str:
    return str(COLUMN_LABELS.get(name, name))


def _amount(raw, errors: list[str]) -> int | None:
    text = str(raw if raw is not None else "").strip().replace(",", "").replace("，", "")
    if not text:
        errors.append(_("%(column)s is required") % {"column": _column("amount")})
        return None
    # Plain ASCII decimals only: Decimal() would also take "1e9", "NaN" or full-width digits.
    if not AMOUNT.fullmatch(text):
        errors.append(_("%(column)s: \"%(value)s\" is not an amount in yuan") % {"column": _column("amount"),
                                                                                 "value": text[:20]})
        return None
    value = Decimal(text)
    if value <= 0:
        errors.append(_("%(column)s must be greater than zero") % {"column": _column("amount")})
        return None
    if len(text.split(".")[0].lstrip("+-0")) > 9:
        value = Decimal(LINE_MAX_FEN)  # far too large either way; avoid huge arithmetic
    fen = value * 100
    if fen != fen.to_integral_value():
        errors.append(_("%(column)s: \"%(value)s\" has more than two decimals") % {"column": _column("amount"),
                                                                                   "value": text[:20]})
        return None
    if fen > LINE_MAX_FEN:
        errors.append(_("%(column)s: one line is at most %(max)s yuan") % {"column": _column("amount"),
                                                                           "max": LINE_MAX_FEN // 100})
        return None
    return int(fen)


def _expiry(raw, default: dt.date, today: dt.date, errors: list[str]) -> dt.date | None:
    if raw in (None, ""):
        return default
    value = None
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"):
        try:
            value = dt.datetime.strptime(str(raw).strip(), fmt).date()
            break
        except ValueError:
            continue
    if value is None or value > DATE_MAX:
        errors.append(_("%(column)s: \"%(value)s\" is not a date (YYYY-MM-DD)") % {
            "column": _column("expires_on"), "value": str(raw)[:20]})
        return None
    if value < today:
        errors.append(_("%(column)s %(date)s is already past") % {"column": _column("expires_on"), "date": value})
        return None
    return value


def subsidy_terms_check(*, reason: str, expires_on, merchant_kinds) -> tuple[str, dt.date, list[str]]:
    """A batch's reason, last day to claim and merchant kinds, cleaned; BusinessError otherwise."""
    reason = _reason_required(reason)[:200]
    if not isinstance(expires_on, dt.date) or isinstance(expires_on, dt.datetime) or expires_on > DATE_MAX:
        raise BusinessError(_("A subsidy batch needs the date until which it may be claimed."))
    if expires_on < business_day():
        raise BusinessError(_("The claim period of a subsidy cannot end in the past."))
    kinds = sorted({str(k) for k in (merchant_kinds or [])})
    unknown = [k for k in kinds if k not in KIND_CODES]
    if unknown:
        raise BusinessError(_("Unknown merchant kind: %(kinds)s.") % {"kinds": ", ".join(unknown)})
    if kinds and TOPUP_KIND not in kinds:
        # Protocol v1: only top-up points ask for pending credit (0x40), so nothing else can claim.
        raise BusinessError(_("Subsidies are claimed at top-up points: a batch limited to other merchant kinds "
                              "could never be claimed. Include top-up points, or leave the kinds empty."))
    return reason, expires_on, kinds


def subsidy_rows_check(*, rows: list[dict], expires_on: dt.date) -> Preview:
    """Check every row of a list: a known holder with an open account, an amount in yuan above
    zero with at most two decimals, no holder twice, a claim date not past. Writes nothing."""
    preview, seen = Preview(), {}
    today = business_day()
    numbers = {str(r.get("number") or "").strip() for r in rows}
    holders = {h.number: h for h in Cardholder.objects.filter(number__in=numbers)}
    for i, row in enumerate(rows, start=1):
        n = row.get("_row", i)
        errors: list[str] = []
        number = imports._text(row.get("number"), "number", errors, 32, required=True)
        holder = holders.get(number) if number else None
        if number and holder is None:
            errors.append(_("number %(number)s is not a known cardholder") % {"number": number})
        elif holder is not None and holder.status != Cardholder.Status.ACTIVE:
            errors.append(_("%(number)s has a closed account (R-CLOSE-4)") % {"number": number})
        if number:
            if number in seen:
                errors.append(_("number %(number)s appears twice in the file (row %(row)s)") % {
                    "number": number, "row": seen[number]})
            seen.setdefault(number, n)
        amount = _amount(row.get("amount"), errors)
        reason = imports._text(row.get("reason"), "reason", errors, 200)
        expiry = _expiry(row.get("expires_on"), expires_on, today, errors)
        if errors:
            preview.problems.append((n, errors))
        else:
            preview.lines.append({"row_no": n, "holder": holder, "amount": amount, "reason": reason,
                                  "expires_on": expiry})
    if not rows:
        preview.problems.append((1, [_("The file has no rows.")]))
    return preview


# --- file, approve or reject (R-ADJ-1: four eyes) --------------------------------------------

@transaction.atomic
def subsidy_batch_file(*, actor, rows: list[dict], reason: str, expires_on: dt.date, merchant_kinds=(),
                       filename: str = "") -> SubsidyBatch:
    """File a checked list for approval. All or nothing: any bad row and nothing is written
    (BatchRejected lists the rows). Nothing moves until another person approves."""
    _require(actor, "accounts.add_subsidybatch")
    reason, expires_on, kinds = subsidy_terms_check(reason=reason, expires_on=expires_on, merchant_kinds=merchant_kinds)
    preview = subsidy_rows_check(rows=rows, expires_on=expires_on)
    if preview.problems:
        raise BatchRejected(preview.problems)
    batch = SubsidyBatch.objects.create(filename=str(filename or "")[:200], reason=reason, expires_on=expires_on,
                                        merchant_kinds=kinds, rows=len(preview.lines), total=preview.total,
                                        filed_by=actor)
    SubsidyLine.objects.bulk_create(
        SubsidyLine(batch=batch, row_no=line["row_no"], holder=line["holder"], amount=line["amount"],
                    reason=line["reason"], expires_on=line["expires_on"])
        for line in preview.lines
    )
    _audit(action="subsidy_file", actor=actor, reason=reason, batch=batch.pk, lines=batch.rows, amount=batch.total)
    return batch


@transaction.atomic
def subsidy_batch_decide(*, actor, batch: SubsidyBatch, approve: bool, note: str = "") -> SubsidyBatch:
    """A second person approves (every line is issued through the ledger in this transaction) or
    rejects with a note. Whoever filed never decides, superusers included (R-ADJ-1)."""
    _require(actor, "accounts.approve_subsidybatch")
    batch = SubsidyBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status != SubsidyBatch.Status.PENDING:
        raise BusinessError(_("This subsidy batch is %(status)s.") % {"status": batch.get_status_display()})
    if batch.filed_by_id == actor.pk:
        raise BusinessError(_("A subsidy batch must be approved by someone other than who filed it (R-ADJ-1)."))
    note = (note or "").strip()
    if approve:
        batch.journal = _issue(actor=actor, batch=batch)
        batch.lines.update(status=SubsidyLine.Status.OPEN)
    else:
        note = _reason_required(note)
        batch.lines.update(status=SubsidyLine.Status.REJECTED)
    batch.status = SubsidyBatch.Status.APPROVED if approve else SubsidyBatch.Status.REJECTED
    batch.decided_by, batch.decided_at, batch.decision_note = actor, timezone.now(), note[:200]
    batch.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "journal"])
    _audit(action="subsidy_decide", actor=actor, journal=batch.journal, reason=note or batch.reason,
           batch=batch.pk, approved=approve, amount=batch.total, filed_by=batch.filed_by_id)
    return batch


def _issue(*, actor, batch: SubsidyBatch) -> Journal:
    """Check the lines again as they are now (a holder may have left, a date passed), then one
    journal for the batch: the school's funding against what the system owes the holders."""
    today = business_day()
    problems = []
    for line in batch.lines.select_related("holder").order_by("row_no"):
        errors = []
        if line.holder.status != Cardholder.Status.ACTIVE:
            errors.append(_("%(number)s has a closed account (R-CLOSE-4)") % {"number": line.holder.number})
        if line.expires_on < today:
            errors.append(_("%(column)s %(date)s is already past") % {"column": _column("expires_on"),
                                                                     "date": line.expires_on})
        if errors:
            problems.append((line.row_no, errors))
    if problems:
        raise BatchRejected(problems)
    total = sum(batch.lines.values_list("amount", flat=True))
    if total != batch.total:
        raise BusinessError(_("The lines of this batch no longer add up to its total."))
    return journal_post(kind=Journal.Kind.SUBSIDY, actor=actor, source=f"subsidy-issue:{batch.pk}",
                        reason=f"{batch.reason} (#{batch.pk})"[:200],
                        lines=[(system_account(LedgerAccount.Kind.SUBSIDY_FUND), total),
                               (system_account(LedgerAccount.Kind.SUBSIDY), -total)])


# --- claim at a top-up point (0x40 PENDING_REQ) ------------------------------------------------

def subsidies_claim(*, card, merchant_kind=None, terminal_id: int | None = None) -> int:
    """Move the holder's open, unexpired subsidies that may be claimed at this merchant kind into
    the purse as pending credit; returns the fen claimed. Exactly once: a line is claimed under its
    row lock and only while open, so a resent request claims nothing again (the reply still shows
    the pending credit, which stays until the card's DEPOSIT is posted). Updates card.purse.pending
    so the caller answers with what the purse holds now."""
    holder_id = getattr(card, "holder_id", None)
    if holder_id is None:  # an anonymous consumption card has no subsidies
        return 0
    today = business_day()
    # terminals.selectors.pending asks the same in SQL (open, not expired) before calling this:
    # a change here belongs there too.
    open_lines = SubsidyLine.objects.filter(holder_id=holder_id, status=SubsidyLine.Status.OPEN,
                                            expires_on__gte=today)
    if not open_lines.exists():  # the common case: no lock, one index probe
        return 0
    kind = None if merchant_kind is None else str(int(merchant_kind))
    with transaction.atomic():
        purse = Purse.objects.select_for_update(of=("self",)).select_related("account").get(holder_id=holder_id)
        holder = Cardholder.objects.get(pk=holder_id)
        if holder.status != Cardholder.Status.ACTIVE:
            return 0
        lines = [line for line in open_lines.select_for_update(of=("self",)).select_related("batch").order_by("id")
                 if not line.batch.merchant_kinds or (kind is not None and kind in line.batch.merchant_kinds)]
        if not lines:
            return 0
        total = sum(line.amount for line in lines)
        # A line is claimed once, so its id names this claim for good (the journal's idempotency key).
        journal = journal_post(kind=Journal.Kind.SUBSIDY_CLAIM, source=f"subsidy-claim:{lines[0].pk}",
                               reason=f"充值点领取补助（终端 {terminal_id or '-'}）",
                               lines=[(system_account(LedgerAccount.Kind.SUBSIDY), total), (purse.account, -total)])
        now = timezone.now()
        SubsidyLine.objects.filter(pk__in=[line.pk for line in lines]).update(
            status=SubsidyLine.Status.CLAIMED, claimed_at=now, claim_terminal_id=terminal_id, claim_journal=journal)
        Purse.objects.filter(pk=purse.pk).update(pending=F("pending") + total)
        _audit(action="subsidy_claim", channel="terminal", holder=holder, journal=journal,
               reason="充值点领取补助", amount=total, lines=len(lines),
               terminal=terminal_id, card_no=card.card_no, pending=purse.pending + total)
    if getattr(card, "purse", None) is not None:
        card.purse.pending = purse.pending + total
    return total


def subsidies_open_total(*, holder_id: int) -> int:
    """Fen issued to a holder and still to be collected at a top-up point (unexpired, unclaimed)."""
    return sum(SubsidyLine.objects.filter(holder_id=holder_id, status=SubsidyLine.Status.OPEN,
                                          expires_on__gte=business_day()).values_list("amount", flat=True))


# --- expiry -----------------------------------------------------------------------------------

def _lapsed(today: dt.date) -> Q:
    # Past its last day, or its holder's account closed (R-CLOSE-1): nobody will claim it any more.
    return Q(status=SubsidyLine.Status.OPEN) & (Q(expires_on__lt=today) | Q(holder__status=Cardholder.Status.CLOSED))


def subsidy_batches_expiring(*, today: dt.date | None = None) -> list[int]:
    """Batches with open lines that lapsed (the sweeper's question)."""
    today = today or business_day()
    return sorted(set(SubsidyLine.objects.filter(_lapsed(today)).values_list("batch_id", flat=True)))


@transaction.atomic
def subsidies_expire(*, batch_id: int, today: dt.date | None = None) -> dict:
    """Reverse a batch's unclaimed lines whose claim period ended (before today, Beijing time) or
    whose holder's account is closed: one journal back to the school's funding. Idempotent:
    reversed lines are no longer open."""
    today = today or business_day()
    lines = list(SubsidyLine.objects.select_for_update(of=("self",)).select_related("holder")
                 .filter(_lapsed(today), batch_id=batch_id).order_by("id"))
    if not lines:
        return {"lines": 0, "amount": 0}
    total = sum(line.amount for line in lines)
    journal = journal_post(kind=Journal.Kind.SUBSIDY_EXPIRE, source=f"subsidy-expire:{lines[0].pk}",
                           reason=f"补助批次 #{batch_id} 未领取部分冲回补助资金",
                           lines=[(system_account(LedgerAccount.Kind.SUBSIDY), total),
                                  (system_account(LedgerAccount.Kind.SUBSIDY_FUND), -total)])
    SubsidyLine.objects.filter(pk__in=[line.pk for line in lines]).update(
        status=SubsidyLine.Status.EXPIRED, expired_at=timezone.now(), expire_journal=journal)
    AuditLog.objects.bulk_create(
        AuditLog(action="subsidy_expire", channel="system", holder_id=line.holder_id, journal=journal,
                 reason="补助到期未领取，冲回" if line.expires_on < today else "持卡人已销户，补助冲回",
                 data={"batch": batch_id, "line": line.pk, "amount": line.amount})
        for line in lines
    )
    return {"lines": len(lines), "amount": total}
