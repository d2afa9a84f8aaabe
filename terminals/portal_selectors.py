"""Reads of terminal records for the fronts: the merchant portal (always scoped to one merchant),
the API and the staff dashboard. Amounts are fen. A merchant's revenue is what it is owed, the
records' stored merchant_amount (结算消费额), which posting wrote: the base price at a dining
merchant (board and energy fees go to the catering centre, R-SUR-1), the full charge elsewhere
(R-SUR-2), nothing for held records (unauthorised offline, R-TERM-2). No rate or merchant kind is
applied here."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from accounts.selectors import blocklist_version_before

from .models import Assignment, Batch, CardFlag, LostRange, Record, RecordConflict, Terminal

PURCHASE = 1


def days_filled(rows: dict, start: dt.date, end: dt.date) -> list[dict]:
    """[{day, count, amount}] for every day from start to end, from rows keyed by day; a day
    without a row is zero."""
    out, day = [], start
    while day <= end:
        r = rows.get(day, {})
        out.append({"day": day, "count": r.get("count") or 0, "amount": r.get("amount") or 0})
        day += dt.timedelta(days=1)
    return out


# What posting credited to the merchant's payable for the record (Record.merchant_amount).
_SHARE = F("merchant_amount")


def _revenue(merchant, start: dt.date, end: dt.date, terminal_id: int | None = None) -> QuerySet[Record]:
    # Matches the partial index record_merchant_revenue; callers COUNT(*), not COUNT(id), so that
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
        .annotate(count=Count("*"), amount=Sum(_SHARE))
    }
    return days_filled(rows, start, end)


def merchant_revenue_by_month(*, merchant, start: dt.date, end: dt.date, terminal_id: int | None = None) -> list[dict]:
    """[{month (first day), count, amount}], oldest first."""
    rows = (_revenue(merchant, start, end, terminal_id).annotate(month=TruncMonth("business_day")).values("month")
            .annotate(count=Count("*"), amount=Sum(_SHARE)).order_by("month"))
    return [{"month": r["month"], "count": r["count"], "amount": r["amount"] or 0} for r in rows]


def merchant_revenue_by_terminal(*, merchant, start: dt.date, end: dt.date) -> list[dict]:
    """[{terminal_id, location, count, amount}] for the merchant's terminals in the period."""
    rows = (_revenue(merchant, start, end).values("terminal_id", "terminal__location")
            .annotate(count=Count("*"), amount=Sum(_SHARE)).order_by("terminal_id"))
    return [{"terminal_id": r["terminal_id"], "location": r["terminal__location"], "count": r["count"],
             "amount": r["amount"] or 0} for r in rows]


def merchant_revenue_by_day_and_terminal(*, merchant, start: dt.date, end: dt.date) -> list[dict]:
    """[{day, terminal_id, location, count, amount}]: the finest grouping, from which the portal
    derives its day, month and terminal tables in one read (settlement.revenue)."""
    rows = (_revenue(merchant, start, end).values("business_day", "terminal_id", "terminal__location")
            .annotate(count=Count("*"), amount=Sum(_SHARE)))
    return [{"day": r["business_day"], "terminal_id": r["terminal_id"], "location": r["terminal__location"],
             "count": r["count"], "amount": r["amount"] or 0} for r in rows]


def terminal_locations(*, ids) -> dict[int, str]:
    """terminal id -> location, for revenue read from the daily close's terminal totals."""
    return dict(Terminal.objects.filter(pk__in=list(ids)).values_list("id", "location"))


def merchant_terminal_ids(*, merchant) -> list[int]:
    """Terminals that ever served the merchant (its records may come from any of them)."""
    return sorted(set(Assignment.objects.filter(merchant_id=merchant.pk).values_list("terminal_id", flat=True)))


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
    return qs.annotate(amount=_SHARE).order_by("-time", "-id").defer("raw")


def merchant_duplicate_suspects(*, merchant, since: dt.datetime) -> QuerySet[Record]:
    """Charges posting marked as suspected duplicates (R-DUP-1), for the merchant to confirm."""
    return (Record.objects.filter(merchant_id=merchant.pk, time__gte=since, problems__contains=["suspected_duplicate"])
            .annotate(amount=_SHARE).order_by("-time").defer("raw"))


# --- the staff dashboard ----------------------------------------------------------------------

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


def posting_lag() -> dict:
    """Batches committed but not yet posted: how many, and how long the oldest has waited (s)."""
    r = Batch.objects.filter(posted_at__isnull=True).aggregate(n=Count("id"), oldest=Min("received_at"))
    lag = (timezone.now() - r["oldest"]).total_seconds() if r["oldest"] else 0.0
    last = Batch.objects.filter(posted_at__isnull=False).aggregate(at=Max("posted_at"))["at"]
    return {"unposted": r["n"], "oldest_seconds": lag, "last_posted_at": last}


def open_exceptions_by_kind() -> dict[str, int]:
    """Everything staff must resolve, counted by kind: record problems, card-vs-account flags,
    declared lost records and conflicting resends."""
    out: dict[str, int] = {}
    for problems in Record.objects.filter(status=Record.Status.EXCEPTION).values_list("problems", flat=True):
        for p in problems or ["unknown"]:
            out[f"record:{p}"] = out.get(f"record:{p}", 0) + 1
    for kind, n in CardFlag.objects.filter(resolved_at__isnull=True).values_list("kind").annotate(n=Count("id")):
        out[f"card_flag:{kind}"] = n
    lost = LostRange.objects.filter(resolved_at__isnull=True).count()
    if lost:
        out["lost_records"] = lost
    conflicts = RecordConflict.objects.filter(resolved_at__isnull=True).count()
    if conflicts:
        out["record_conflict"] = conflicts
    return dict(sorted(out.items()))


def terminals_needing_attention(*, offline_after_s: int = 300, behind_after_s: int = 300) -> dict:
    """Active terminals not heard from lately (R-TERM-2), and those that still lack a block-list
    change made more than the grace ago (R-TERM-3: a late list lets a stolen card be spent)."""
    now = timezone.now()
    # The newest version older than the grace.
    due = blocklist_version_before(at=now - dt.timedelta(seconds=behind_after_s))
    active = Terminal.objects.filter(status=Terminal.Status.ACTIVE)
    fields = ("id", "location", "last_seen_at", "blocklist_version", "blocklist_version_at")
    offline = active.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - dt.timedelta(seconds=offline_after_s)))
    behind = active.filter(blocklist_version__lt=due)
    return {"offline": list(offline.values(*fields)[:50]), "offline_count": offline.count(),
            "behind": list(behind.values(*fields)[:50]), "behind_count": behind.count(), "due_version": due}
