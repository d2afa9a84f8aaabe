"""Terminal records by day, card, merchant or hour. Amounts are fen as the record stores them
(base, surcharge, total, and the split posting stored: merchant_amount, surcharge_amount, held_amount).
A record belongs to the business day of the journal that posted it, never to its card time."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Count, F, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, ExtractHour

from accounts.timeutil import BUSINESS_TZ

from .. import labels
from ..models import Record
from ..wire import RecordKind

SETTLED = (Record.Status.POSTED, Record.Status.HELD)
LIVE = ("posted", "held")
PURCHASE = 1
# What a merchant is owed for a record: the split posting stored.
SHARE = F("merchant_amount")


def day_record_groups(*, day: dt.date) -> list[dict]:
    """The day's posted and held records grouped by merchant, terminal, card type, kind, status
    and operator: counts and sums (fen). A few thousand rows for half a million records.
    `amount` is what the records moved on the cards (a purchase's base + surcharge, a deposit's
    amount); `settled`, `surcharge_amount` and `held_amount` sum the split posting stored.

    By business day, not through the day's journals: a record is posted in its journal's day, but
    a batch or intake group of pending-credit deposits alone moves no money and has no journal,
    and the day's deposits and pending credit written had then depended on what each was
    grouped with. The BRIN index on business_day reads the day's block ranges."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT r.merchant_id, r.terminal_id, r.card_type, r.kind, r.status, r.operator_no,
                      COUNT(*), SUM(r.base_amount + r.surcharge), SUM(r.merchant_amount), SUM(r.surcharge_amount),
                      SUM(r.held_amount), COUNT(*) FILTER (WHERE r.problems @> '["suspected_duplicate"]'::jsonb)
               FROM terminals_record r
               WHERE r.business_day = %s AND r.status IN ('posted', 'held')
               GROUP BY 1, 2, 3, 4, 5, 6""",
            [day],
        )
        return [
            {"merchant_id": m, "terminal_id": t, "card_type": ct, "kind": k, "status": st, "operator_no": op,
             "count": n, "amount": int(a), "settled": int(ms), "surcharge_amount": int(ss), "held_amount": int(h),
             "duplicates": d}
            for m, t, ct, k, st, op, n, a, ms, ss, h, d in cur.fetchall()
        ]


def records_by_id(*, ids) -> dict[int, dict]:
    """Records named by a day's close exceptions: id -> terminal, sequence, card, amounts, problems."""
    rows = Record.objects.filter(id__in=list(ids)).values(
        "id", "terminal_id", "term_seq", "card_no", "kind", "base_amount", "surcharge", "status", "problems",
        "merchant_id", "time")
    return {r["id"]: r for r in rows}


def record_get(*, pk: int) -> Record | None:
    return Record.objects.select_related("journal", "merchant").filter(pk=pk).first()




def merchant_records(*, merchant, since: dt.datetime, until: dt.datetime, terminal_id: int | None = None,
                     card_no: int | None = None, status: str | None = None) -> QuerySet[Record]:
    """The merchant's own records made in [since, until), newest first, with its share as `amount`
    (merchant_amount: 0 for a held record, which the merchant is not owed)."""
    qs = Record.objects.filter(merchant_id=merchant.pk, time__gte=since, time__lt=until)
    if terminal_id:
        qs = qs.filter(terminal_id=terminal_id)
    if card_no:
        qs = qs.filter(card_no=card_no)
    if status:
        qs = qs.filter(status=status)
    return qs.annotate(amount=SHARE).order_by("-time", "-id").defer("raw")


def records_on_day(*, day: dt.date) -> dict:
    """Purchases posted on a business day: count and amount charged to cards (fen)."""
    r = Record.objects.filter(business_day=day, kind=PURCHASE, status__in=["posted", "held"]).aggregate(
        count=Count("id"), amount=Coalesce(Sum(F("base_amount") + F("surcharge")), Value(0)))
    return {"count": r["count"], "amount": r["amount"]}


def records_daily(*, start: dt.date, end: dt.date) -> list[dict]:
    """[{day, count, amount}] of posted purchases, every day from start to end."""
    rows = {r["business_day"]: r for r in Record.objects.filter(
        business_day__gte=start, business_day__lte=end, kind=PURCHASE, status__in=["posted", "held"])
        .values("business_day").annotate(count=Count("id"), amount=Sum(F("base_amount") + F("surcharge")))}
    return days_filled(rows, start, end)




def card_records(*, card_nos, limit: int = 20) -> list[dict]:
    """The newest records of these cards (a holder's current and earlier cards), any status."""
    rows = (Record.objects.filter(card_no__in=list(card_nos))
            .order_by("-time", "-id")
            .values("id", "time", "card_no", "kind", "base_amount", "surcharge", "balance_after", "status",
                    "problems", "operator_no", "terminal_id", "terminal__location", "merchant__name")[:limit])
    out = []
    for r in rows:
        deposit = r["kind"] == RecordKind.DEPOSIT
        out.append({
            "id": r["id"], "time": r["time"], "card_no": r["card_no"], "kind": r["kind"],
            # A DEPOSIT with operator 0 writes pending credit (过渡余额) onto the card: no cash.
            "kind_code": "pending_write" if deposit and not r["operator_no"] else ("deposit" if deposit else "purchase"),
            "base": r["base_amount"], "surcharge": r["surcharge"], "total": r["base_amount"] + r["surcharge"],
            "balance_after": r["balance_after"], "status": r["status"],
            "status_label": Record.Status(r["status"]).label if r["status"] in Record.Status.values else r["status"],
            "problems": [labels.record_problem_label(p) for p in r["problems"] or []],
            "terminal_id": r["terminal_id"], "terminal": r["terminal__location"] or "", "merchant": r["merchant__name"] or "",
        })
    return out


def purchases_by_hour(*, day: dt.date) -> list[dict]:
    """[{hour, count, amount}] for the 24 hours (Beijing time) of the purchases posted to a business
    day (held ones too: the holder paid). The business day is indexed; the time of a record is not."""
    rows = {r["hour"]: r for r in Record.objects.filter(business_day=day, kind=RecordKind.PURCHASE, status__in=LIVE)
            .annotate(hour=ExtractHour("time", tzinfo=BUSINESS_TZ)).values("hour")
            .annotate(count=Count("id"), amount=Sum(F("base_amount") + F("surcharge")))}
    return [{"hour": h, "count": rows.get(h, {}).get("count") or 0, "amount": rows.get(h, {}).get("amount") or 0}
            for h in range(24)]


def terminal_deposits(*, day: dt.date) -> dict:
    """Cash deposits taken at top-up terminals (operator ≠ 0) posted to a business day."""
    qs = Record.objects.filter(business_day=day, kind=RecordKind.DEPOSIT, status__in=LIVE, operator_no__gt=0)
    r = qs.aggregate(n=Count("id"), amount=Coalesce(Sum("base_amount"), 0))
    return {"count": r["n"], "amount": r["amount"]}


def terminal_deposit_list(*, day: dt.date, limit: int = 200) -> list[dict]:
    return list(Record.objects.filter(business_day=day, kind=RecordKind.DEPOSIT, status__in=LIVE, operator_no__gt=0)
                .order_by("-time")
                .values("time", "card_no", "base_amount", "operator_no", "terminal_id", "terminal__location")[:limit])

def days_filled(rows: dict, start: dt.date, end: dt.date) -> list[dict]:
    """[{day, count, amount}] for every day from start to end, from rows keyed by day; a day
    without a row is zero."""
    out, day = [], start
    while day <= end:
        r = rows.get(day, {})
        out.append({"day": day, "count": r.get("count") or 0, "amount": r.get("amount") or 0})
        day += dt.timedelta(days=1)
    return out

