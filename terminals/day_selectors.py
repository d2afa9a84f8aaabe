"""Read-only, set-based reads of terminal records for the daily close and settlement (settlement/).

A record belongs to the business day of the journal that posted it (a late record is posted to
the next open day, with its own time kept), so the day's records are found through their
journals, never through their card time. Every function here is one or a few GROUP BY queries.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Q, QuerySet

from . import protocol
from .models import CardFlag, LostRange, Record, RecordConflict, Terminal

SETTLED = (Record.Status.POSTED, Record.Status.HELD)


def day_record_groups(*, day: dt.date) -> list[dict]:
    """The day's posted and held records grouped by merchant, terminal, card type, kind, status
    and operator: counts and sums (fen). A few thousand rows for half a million records.
    `amount` is what the records moved on the cards (a purchase's base + surcharge, a deposit's
    amount); `settled`, `surcharge_amount` and `held_amount` sum the split posting stored."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT r.merchant_id, r.terminal_id, r.card_type, r.kind, r.status, r.operator_no,
                      COUNT(*), SUM(r.base_amount + r.surcharge), SUM(r.merchant_amount), SUM(r.surcharge_amount),
                      SUM(r.held_amount), COUNT(*) FILTER (WHERE r.problems @> '["suspected_duplicate"]'::jsonb)
               FROM terminals_record r
               WHERE r.journal_id IN (SELECT id FROM accounts_journal WHERE business_day = %s)
                 AND r.status IN ('posted', 'held')
               GROUP BY 1, 2, 3, 4, 5, 6""",
            [day],
        )
        return [
            {"merchant_id": m, "terminal_id": t, "card_type": ct, "kind": k, "status": st, "operator_no": op,
             "count": n, "amount": int(a), "settled": int(ms), "surcharge_amount": int(ss), "held_amount": int(h),
             "duplicates": d}
            for m, t, ct, k, st, op, n, a, ms, ss, h, d in cur.fetchall()
        ]


def day_terminal_health(*, day_start: dt.datetime, blocklist_required: int) -> list[dict]:
    """Active terminals that were silent all day (or longer), report unsent records, or run a
    block list older than `blocklist_required` (R-TERM-2, R-TERM-3)."""
    rows = (
        Terminal.objects.filter(status=Terminal.Status.ACTIVE)
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=day_start) | Q(unsent__gt=0)
                | Q(blocklist_version__lt=blocklist_required))
        .order_by("id")
        .values_list("id", "last_seen_at", "unsent", "blocklist_version", "blocklist_version_at")
    )
    out = []
    for tid, seen, unsent, bl, _bl_at in rows:
        problems = []
        if seen is None or seen < day_start:
            problems.append("not_seen")
        if unsent:
            problems.append("unsent")
        if bl < blocklist_required:
            problems.append("blocklist_lag")
        out.append({"terminal_id": tid, "problems": problems, "last_seen_at": seen.isoformat() if seen else None,
                    "unsent": unsent, "blocklist_version": bl, "blocklist_required": blocklist_required})
    return out


def open_card_flags(*, limit: int = 1000, raised_from=None, raised_to=None) -> tuple[int, list[dict]]:
    """Card-vs-account disagreements (卡库不平) not yet resolved (raised in [from, to) if given):
    how many, and the oldest."""
    qs = CardFlag.objects.filter(resolved_at__isnull=True)
    if raised_from is not None:
        qs = qs.filter(at__gte=raised_from, at__lt=raised_to)
    rows = qs.order_by("id").values("id", "card_no", "kind", "expected", "actual", "record_id", "at")[:limit]
    return qs.count(), [{**r, "at": r["at"].isoformat()} for r in rows]


def open_record_exceptions(*, limit: int = 1000, received_from=None, received_to=None) -> tuple[int, list[dict]]:
    """Records that could not be posted (status exception) and are not yet dealt with
    (received in [from, to) if given)."""
    qs = Record.objects.filter(status=Record.Status.EXCEPTION)
    if received_from is not None:
        qs = qs.filter(batch__received_at__gte=received_from, batch__received_at__lt=received_to)
    rows = qs.order_by("id").values("id", "terminal_id", "term_seq", "card_no", "base_amount", "problems")[:limit]
    return qs.count(), list(rows)


def records_by_id(*, ids) -> dict[int, dict]:
    """Records named by a day's close exceptions: id -> terminal, sequence, card, amounts, problems."""
    rows = Record.objects.filter(id__in=list(ids)).values(
        "id", "terminal_id", "term_seq", "card_no", "kind", "base_amount", "surcharge", "status", "problems",
        "merchant_id", "time")
    return {r["id"]: r for r in rows}


def card_flags_by_id(*, ids) -> dict[int, dict]:
    rows = CardFlag.objects.filter(id__in=list(ids)).values("id", "card_no", "kind", "expected", "actual", "record_id")
    return {r["id"]: r for r in rows}


def open_other_exceptions() -> dict:
    return {
        "lost_ranges": LostRange.objects.filter(resolved_at__isnull=True).count(),
        "record_conflicts": RecordConflict.objects.filter(resolved_at__isnull=True).count(),
    }


# --- single records, for refunds and corrections ---------------------------------------------

def record_get(*, pk: int) -> Record | None:
    return Record.objects.select_related("journal", "merchant").filter(pk=pk).first()


def records_suspected_duplicate(*, merchant_id: int | None = None, since: dt.datetime | None = None) -> QuerySet[Record]:
    """Posted purchases that posting marked as a suspected duplicate charge (R-DUP-1)."""
    qs = Record.objects.filter(status=Record.Status.POSTED, kind=protocol.RecordKind.PURCHASE,
                               problems__contains=["suspected_duplicate"])
    if merchant_id is not None:
        qs = qs.filter(merchant_id=merchant_id)
    if since is not None:
        qs = qs.filter(time__gte=since)
    return qs.order_by("-time")


def record_duplicate_original(*, record: Record) -> Record | None:
    """The earlier charge a suspected duplicate repeats: same card, terminal and amount within
    the terminal's duplicate guard, the latest before it."""
    window = dt.timedelta(seconds=record.terminal.min_interval_s)
    return (
        Record.objects.filter(
            terminal_id=record.terminal_id, card_no=record.card_no, kind=protocol.RecordKind.PURCHASE,
            base_amount=record.base_amount, term_seq__lt=record.term_seq, time__gte=record.time - window,
            status__in=SETTLED,
        )
        .order_by("-term_seq")
        .first()
    )
