"""A merchant's revenue for the portal and the API: closed days from the daily close's totals,
days not closed yet (today; yesterday until the 00:10 close) from the records.

Revenue is 结算消费额: the merchant_amount posting stored in each posted purchase (the base price
at a dining merchant, R-SUR-1; the full charge elsewhere, R-SUR-2; nothing for held records,
R-TERM-2), by business day, as terminals.selectors.revenue.merchant_revenue_* sum it. The close
stores the same sums per merchant and day (DayMerchantTotal: purchases − held_count, settled) and
per terminal (DayTerminalTotal), and a closed day never changes: the ledger closes it before the
close reads it, and a late record is posted to the next open day (its business_day follows its
journal's). Both sum the same stored column, so they give identical numbers, while a canteen's
year is ~365 small rows instead of ~250,000 index entries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection
from django.db.models import F, Sum
from django.db.models.functions import TruncMonth

from terminals import selectors as terminal_selectors

from .models import DayClose, DayMerchantTotal, DayTerminalTotal

_POSTED = F("purchases") - F("held_count")  # held records are in purchases, not in revenue


def closed_days(*, start: dt.date, end: dt.date) -> set[dt.date]:
    """Days in [start, end] whose close has run (its totals are written in the same transaction)."""
    return set(DayClose.objects.filter(day__gte=start, day__lte=end).values_list("day", flat=True))


def _open_runs(start: dt.date, end: dt.date, closed: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """The runs of consecutive days not closed: normally one, today (and yesterday before 00:10)."""
    closed = set(closed)
    runs: list[tuple[dt.date, dt.date]] = []
    day, first = start, None
    while day <= end:
        if day in closed:
            if first is not None:
                runs.append((first, day - dt.timedelta(days=1)))
                first = None
        elif first is None:
            first = day
        day += dt.timedelta(days=1)
    if first is not None:
        runs.append((first, end))
    return runs


def _closed(start, end, closed):
    return closed_days(start=start, end=end) if closed is None else {d for d in closed if start <= d <= end}


def _totals(merchant, start: dt.date, end: dt.date, terminal_id: int | None):
    if terminal_id:
        return DayTerminalTotal.objects.filter(merchant_id=merchant.pk, terminal_id=terminal_id, day__gte=start,
                                               day__lte=end)
    return DayMerchantTotal.objects.filter(merchant_id=merchant.pk, day__gte=start, day__lte=end)


def merchant_revenue_by_day(*, merchant, start: dt.date, end: dt.date, terminal_id: int | None = None,
                            closed: set[dt.date] | None = None) -> list[dict]:
    """[{day, count, amount}] for every business day from start to end (days without sales: 0).
    `closed`: the closed days if the caller read them already (one read for a whole page)."""
    closed = _closed(start, end, closed)
    rows = {}
    if closed:
        rows = {r["day"]: r for r in _totals(merchant, start, end, terminal_id).values("day")
                .annotate(count=Sum(_POSTED), amount=Sum("settled"))}
    for a, b in _open_runs(start, end, closed):
        rows.update({r["day"]: r for r in terminal_selectors.merchant_revenue_by_day(merchant=merchant, start=a, end=b,
                                                                       terminal_id=terminal_id)})
    return terminal_selectors.days_filled(rows, start, end)


def merchant_revenue_by_month(*, merchant, start: dt.date, end: dt.date, terminal_id: int | None = None,
                              closed: set[dt.date] | None = None) -> list[dict]:
    """[{month (first day), count, amount}], oldest first; months without a posted purchase are left out."""
    closed = _closed(start, end, closed)
    months: dict[dt.date, list[int]] = {}
    if closed:
        for r in (_totals(merchant, start, end, terminal_id).annotate(month=TruncMonth("day")).values("month")
                  .annotate(count=Sum(_POSTED), amount=Sum("settled"))):
            months[r["month"]] = [r["count"] or 0, r["amount"] or 0]
    for a, b in _open_runs(start, end, closed):
        for r in terminal_selectors.merchant_revenue_by_month(merchant=merchant, start=a, end=b, terminal_id=terminal_id):
            m = months.setdefault(r["month"], [0, 0])
            m[0] += r["count"]
            m[1] += r["amount"]
    return [{"month": k, "count": n, "amount": amt} for k, (n, amt) in sorted(months.items()) if n]


def merchant_revenue_by_terminal(*, merchant, start: dt.date, end: dt.date,
                                 closed: set[dt.date] | None = None) -> list[dict]:
    """[{terminal_id, location, count, amount}] for the terminals with posted purchases in the period."""
    closed = _closed(start, end, closed)
    terms: dict[int, dict] = {}
    if closed:
        for r in (DayTerminalTotal.objects.filter(merchant_id=merchant.pk, day__gte=start, day__lte=end)
                  .values("terminal_id").annotate(count=Sum(_POSTED), amount=Sum("settled"))):
            if r["count"]:
                terms[r["terminal_id"]] = {"terminal_id": r["terminal_id"], "location": None, "count": r["count"],
                                           "amount": r["amount"] or 0}
    for a, b in _open_runs(start, end, closed):
        for r in terminal_selectors.merchant_revenue_by_terminal(merchant=merchant, start=a, end=b):
            t = terms.setdefault(r["terminal_id"], {"terminal_id": r["terminal_id"], "location": None, "count": 0,
                                                    "amount": 0})
            t["location"], t["count"], t["amount"] = r["location"], t["count"] + r["count"], t["amount"] + r["amount"]
    missing = [tid for tid, t in terms.items() if t["location"] is None]
    if missing:
        locations = terminal_selectors.terminal_locations(ids=missing)
        for tid in missing:
            terms[tid]["location"] = locations.get(tid)
    return [terms[tid] for tid in sorted(terms)]


def _closed_day_totals(merchant, start: dt.date, end: dt.date, terminal_id: int | None) -> dict[dt.date, list[int]]:
    """closed day -> [count, amount] in one read: every closed day, with the merchant's (or one of
    its terminals') totals where it sold anything."""
    if terminal_id:
        join, params = ("settlement_dayterminaltotal t ON t.day = c.day AND t.merchant_id = %s AND t.terminal_id = %s",
                        [merchant.pk, terminal_id])
    else:
        join, params = "settlement_daymerchanttotal t ON t.day = c.day AND t.merchant_id = %s", [merchant.pk]
    with connection.cursor() as cur:
        cur.execute(f"""SELECT c.day, COALESCE(t.purchases - t.held_count, 0), COALESCE(t.settled, 0)
                        FROM settlement_dayclose c LEFT JOIN {join}
                        WHERE c.day BETWEEN %s AND %s""", [*params, start, end])
        return {day: [n, amount] for day, n, amount in cur.fetchall()}


def merchant_revenue_overview(*, merchant, today: dt.date, terminal_id: int | None = None) -> dict:
    """The portal page's three tables — last 30 days by day, 12 months by month (this one and the 11
    before), this month by terminal — equal to the three functions above, in about four reads: the
    closed days with their totals, this month's terminal totals, the open days' records grouped by
    day and terminal, and the locations of terminals seen only in the totals."""
    this = today.replace(day=1)
    year_start = (this.replace(year=this.year - 1) + dt.timedelta(days=32)).replace(day=1)
    thirty = today - dt.timedelta(days=29)
    start = min(year_start, thirty)
    per_day = _closed_day_totals(merchant, start, today, terminal_id)
    closed = set(per_day)
    terms: dict[int, dict] = {}
    if any(d >= this for d in closed):
        for r in (DayTerminalTotal.objects.filter(merchant_id=merchant.pk, day__gte=this, day__lte=today)
                  .values("terminal_id").annotate(count=Sum(_POSTED), amount=Sum("settled"))):
            if r["count"]:
                terms[r["terminal_id"]] = {"terminal_id": r["terminal_id"], "location": None, "count": r["count"],
                                           "amount": r["amount"] or 0}
    for a, b in _open_runs(start, today, closed):
        for r in terminal_selectors.merchant_revenue_by_day_and_terminal(merchant=merchant, start=a, end=b):
            if not terminal_id or r["terminal_id"] == terminal_id:
                d = per_day.setdefault(r["day"], [0, 0])
                d[0] += r["count"]
                d[1] += r["amount"]
            if r["day"] >= this:
                t = terms.setdefault(r["terminal_id"], {"terminal_id": r["terminal_id"], "location": None, "count": 0,
                                                        "amount": 0})
                t["location"], t["count"], t["amount"] = r["location"], t["count"] + r["count"], t["amount"] + r["amount"]
    days, day = [], thirty
    while day <= today:
        n, amount = per_day.get(day, (0, 0))
        days.append({"day": day, "count": n, "amount": amount})
        day += dt.timedelta(days=1)
    months: dict[dt.date, list[int]] = {}
    for day, (n, amount) in per_day.items():
        if day >= year_start:
            m = months.setdefault(day.replace(day=1), [0, 0])
            m[0] += n
            m[1] += amount
    missing = [tid for tid, t in terms.items() if t["location"] is None]
    if missing:
        locations = terminal_selectors.terminal_locations(ids=missing)
        for tid in missing:
            terms[tid]["location"] = locations.get(tid)
    return {
        "days": days,
        "months": [{"month": k, "count": n, "amount": amt} for k, (n, amt) in sorted(months.items()) if n],
        "terminals": [terms[tid] for tid in sorted(terms)],
    }
