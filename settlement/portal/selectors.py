"""Reads for the merchant portal. Every function takes the merchant the request is scoped to;
nothing here accepts another merchant's id."""

from __future__ import annotations

import datetime as dt

from accounts.timeutil import BUSINESS_TZ, business_day
from settlement import revenue
from settlement import selectors as ss
from settlement.models import DayMerchantTotal
from terminals import selectors as terminal_selectors


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def previous_month(first: dt.date) -> dt.date:
    return (first - dt.timedelta(days=1)).replace(day=1)


def next_month(first: dt.date) -> dt.date:
    return (first + dt.timedelta(days=32)).replace(day=1)


def detail_months(today: dt.date | None = None) -> list[dt.date]:
    """The months whose detail a merchant may see online: this one and the previous (U§10)."""
    this = month_start(today or business_day())
    return [this, previous_month(this)]


def month_bounds(first: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a calendar month in Beijing time."""
    start = dt.datetime.combine(first, dt.time.min, tzinfo=BUSINESS_TZ)
    return start, dt.datetime.combine(next_month(first), dt.time.min, tzinfo=BUSINESS_TZ)


def revenue_overview(*, merchant, today: dt.date | None = None, terminal_id: int | None = None) -> dict:
    """Last 30 days by day, 12 months by month, this month by terminal: closed days from the
    daily close, the rest from records (settlement.revenue)."""
    return revenue.merchant_revenue_overview(merchant=merchant, today=today or business_day(), terminal_id=terminal_id)


def terminal_ids(*, merchant) -> list[int]:
    return terminal_selectors.merchant_terminal_ids(merchant=merchant)


def records(*, merchant, month: dt.date, terminal_id=None, card_no=None, status=None):
    """Detail records of one allowed month (the caller checks the month against detail_months)."""
    since, until = month_bounds(month)
    return terminal_selectors.merchant_records(merchant=merchant, since=since, until=until, terminal_id=terminal_id,
                                card_no=card_no, status=status)


def duplicate_suspects(*, merchant, today: dt.date | None = None):
    since, _ = month_bounds(detail_months(today)[1])
    return terminal_selectors.merchant_duplicate_suspects(merchant=merchant, since=since)


# --- settlements, corrections and refunds: settlement's own tables, scoped to the merchant ----

def statements(*, merchant):
    return ss.statements_for_merchant(merchant=merchant)


def statement(*, merchant, pk: int):
    """The merchant's statement, or None for another merchant's id (the view answers 404)."""
    return ss.statement_of_merchant(merchant=merchant, pk=pk)


def statement_days(*, statement) -> list[dict]:
    """The statement's period day by day from the daily closes (its detail, R-SET-1)."""
    return list(DayMerchantTotal.objects.filter(merchant_id=statement.merchant_id, day__gte=statement.period_start,
                                                day__lte=statement.period_end).order_by("day")
                .values("day", "purchases", "settled", "refunds", "corrections", "held_count", "held_amount"))


def application_window(statement) -> tuple[dt.date, dt.date]:
    return ss.application_window(statement.period_end)


def record(*, merchant, pk: int, today: dt.date | None = None):
    """One of the merchant's own records of the months it may see online (U§10), or None."""
    since, _ = month_bounds(detail_months(today)[1])
    until = since + dt.timedelta(days=400)
    return terminal_selectors.merchant_records(merchant=merchant, since=since, until=until).filter(pk=pk).first()


def corrections(*, merchant):
    return ss.corrections_for_merchant(merchant=merchant)


def returned_record_ids(*, record_ids) -> set[int]:
    return ss.refunded_record_ids(record_ids=record_ids)
