"""A merchant's revenue: what it is owed, the records' stored merchant_amount (结算消费额), which
posting wrote (R-SUR-1, R-SUR-2, R-TERM-2). No rate or merchant kind is applied here."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncMonth

from ..models import Record
from .records import PURCHASE, SHARE, days_filled

# What posting credited to the merchant's payable for the record (Record.merchant_amount).


def _revenue(merchant, start: dt.date, end: dt.date, terminal_id: int | None = None) -> QuerySet[Record]:
    # Matches the index record_merchant (kind and status in it); callers COUNT(*), not COUNT(id), so that
    # PostgreSQL answers from the index without visiting the table.
    qs = Record.objects.filter(merchant_id=merchant.pk, kind=PURCHASE, status=Record.Status.POSTED,
                               business_day__gte=start, business_day__lte=end)
    if terminal_id:
        qs = qs.filter(terminal_id=terminal_id)
    return qs


def merchant_revenue_by_day(*, merchant, start: dt.date, end: dt.date, terminal_id: int | None = None) -> list[dict]:
    """[{day, count, amount}] for every business day from start to end (days without sales: 0)."""
    rows = {
        r["business_day"]: r for r in _revenue(merchant, start, end, terminal_id).values("business_day")
        .annotate(count=Count("*"), amount=Sum(SHARE))
    }
    return days_filled(rows, start, end)


def merchant_revenue_by_month(*, merchant, start: dt.date, end: dt.date, terminal_id: int | None = None) -> list[dict]:
    """[{month (first day), count, amount}], oldest first."""
    rows = (_revenue(merchant, start, end, terminal_id).annotate(month=TruncMonth("business_day")).values("month")
            .annotate(count=Count("*"), amount=Sum(SHARE)).order_by("month"))
    return [{"month": r["month"], "count": r["count"], "amount": r["amount"] or 0} for r in rows]


def merchant_revenue_by_terminal(*, merchant, start: dt.date, end: dt.date) -> list[dict]:
    """[{terminal_id, location, count, amount}] for the merchant's terminals in the period."""
    rows = (_revenue(merchant, start, end).values("terminal_id", "terminal__location")
            .annotate(count=Count("*"), amount=Sum(SHARE)).order_by("terminal_id"))
    return [{"terminal_id": r["terminal_id"], "location": r["terminal__location"], "count": r["count"],
             "amount": r["amount"] or 0} for r in rows]


def merchant_revenue_by_day_and_terminal(*, merchant, start: dt.date, end: dt.date) -> list[dict]:
    """[{day, terminal_id, location, count, amount}]: the finest grouping, from which the portal
    derives its day, month and terminal tables in one read (settlement.revenue)."""
    rows = (_revenue(merchant, start, end).values("business_day", "terminal_id", "terminal__location")
            .annotate(count=Count("*"), amount=Sum(SHARE)))
    return [{"day": r["business_day"], "terminal_id": r["terminal_id"], "location": r["terminal__location"],
             "count": r["count"], "amount": r["amount"] or 0} for r in rows]
