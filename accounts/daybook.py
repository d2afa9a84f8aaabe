"""The day book: which business days are closed, and set-based reads of one day's ledger.

A business day (Asia/Shanghai) is closed by the daily close (对帐日结, R-DAY-1, settlement/).
From then on it is immutable: journal_post refuses it, and a journal whose day would have been a
closed one goes to the next open day (the record or event keeps its own time). The close takes
the day-book lock exclusively while it marks the day closed; every journal_post holds it shared
while it picks its day, so no journal can slip into a day after the close has read it.

The reads return SQL (with params) or rows, never per-row Python work: the close aggregates a
day of half a million records in a few statements.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import BusinessError
from .models import ClosedDay
from .timeutil import business_day

DAYBOOK_LOCK = 0x43430002  # advisory lock id; accounts.services uses 0x43430001 for the block list


def _lock_shared() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", [DAYBOOK_LOCK])


def business_day_open(at: dt.datetime | None = None) -> dt.date:
    """The first business day on or after business_day(at) that is not closed."""
    day = business_day(at)
    closed = set(ClosedDay.objects.filter(day__gte=day).values_list("day", flat=True))
    while day in closed:
        day += dt.timedelta(days=1)
    return day


def day_is_closed(day: dt.date) -> bool:
    return ClosedDay.objects.filter(day=day).exists()


def journal_business_day(day: dt.date | None = None) -> dt.date:
    """The business day for a journal being posted now (call inside its transaction): `day` if
    given and open, else the first open day. Holds the day-book lock shared until commit."""
    _lock_shared()
    if day is None:
        return business_day_open()
    if day_is_closed(day):
        raise BusinessError(_("Business day %(day)s is closed; nothing more can be posted to it (R-DAY-1).") % {"day": day})
    return day


def day_mark_closed(*, day: dt.date) -> ClosedDay:
    """Close a business day that has ended. Idempotent: closing a closed day returns it as it is.
    Waits for every journal in flight (they hold the lock shared), so after this commits no
    journal of that day can appear."""
    if day >= business_day(timezone.now()):
        raise BusinessError(_("Business day %(day)s has not ended; it cannot be closed yet.") % {"day": day})
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [DAYBOOK_LOCK])
        closed = ClosedDay.objects.get_or_create(day=day)[0]
    return closed


def days_closed(*, start: dt.date, end: dt.date) -> set[dt.date]:
    return set(ClosedDay.objects.filter(day__gte=start, day__lte=end).values_list("day", flat=True))


# --- set-based reads of one day ------------------------------------------------------------

def day_trial_balance(*, day: dt.date) -> list[dict]:
    """Per ledger-account kind: debits, credits and postings of the day. Σ debits = Σ credits."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT a.kind, COALESCE(SUM(p.amount) FILTER (WHERE p.amount > 0), 0),
                      COALESCE(-SUM(p.amount) FILTER (WHERE p.amount < 0), 0), COUNT(*)
               FROM accounts_journal j
               JOIN accounts_posting p ON p.journal_id = j.id
               JOIN accounts_ledgeraccount a ON a.id = p.account_id
               WHERE j.business_day = %s GROUP BY a.kind ORDER BY a.kind""",
            [day],
        )
        return [{"kind": k, "debit": int(d), "credit": int(c), "postings": n} for k, d, c, n in cur.fetchall()]


def day_account_movements(*, day: dt.date, exclude_kinds=("purse",)) -> list[dict]:
    """Per non-purse account and journal kind/source family ("batch", "settle-pay", …): the day's
    natural movement (what the account's balance changed by) and the number of journals."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT a.id, a.kind, a.operator_id, j.kind, COALESCE(split_part(j.source, ':', 1), ''),
                      a.normal * SUM(p.amount), COUNT(DISTINCT j.id)
               FROM accounts_journal j
               JOIN accounts_posting p ON p.journal_id = j.id
               JOIN accounts_ledgeraccount a ON a.id = p.account_id
               WHERE j.business_day = %s AND NOT (a.kind = ANY(%s))
               GROUP BY a.id, a.kind, a.operator_id, a.normal, j.kind, 5""",
            [day, list(exclude_kinds)],
        )
        return [
            {"account_id": a, "kind": k, "operator_id": op, "journal_kind": jk, "source": src, "movement": int(m),
             "journals": n}
            for a, k, op, jk, src, m, n in cur.fetchall()
        ]


def purse_day_query(*, day: dt.date) -> tuple[str, list]:
    """SQL yielding (account_id, movement, closing) for every purse that moved on `day`:
    movement is the day's natural change, closing the balance at the day's end, i.e. the balance
    now less what later days moved. For INSERT … SELECT by the daily close."""
    sql = """SELECT a.id AS account_id,
                    a.normal * SUM(p.amount) FILTER (WHERE j.business_day = %s) AS movement,
                    a.balance - a.normal * COALESCE(SUM(p.amount) FILTER (WHERE j.business_day > %s), 0) AS closing
             FROM accounts_journal j
             JOIN accounts_posting p ON p.journal_id = j.id
             JOIN accounts_ledgeraccount a ON a.id = p.account_id AND a.kind = 'purse'
             WHERE j.business_day >= %s
             GROUP BY a.id, a.normal, a.balance
             HAVING COUNT(*) FILTER (WHERE j.business_day = %s) > 0"""
    return sql, [day, day, day, day]


def purse_balance_before_query(*, day: dt.date, account_ids_sql: str) -> tuple[str, list]:
    """SQL yielding (account_id, balance) at the start of `day` from postings alone, for the
    purses selected by `account_ids_sql` (a sub-select): the first close of a purse has no
    earlier closing to start from."""
    sql = f"""SELECT a.id AS account_id, a.normal * COALESCE(SUM(p.amount), 0) AS balance
              FROM accounts_ledgeraccount a
              LEFT JOIN accounts_posting p ON p.account_id = a.id
                   AND p.journal_id IN (SELECT id FROM accounts_journal WHERE business_day < %s)
              WHERE a.id IN ({account_ids_sql})
              GROUP BY a.id, a.normal"""
    return sql, [day]


def blocklist_version_before(at: dt.datetime) -> int:
    """The block-list version every terminal should have applied by `at` (R-TERM-3)."""
    from .models import BlockListEntry

    last = BlockListEntry.objects.filter(at__lte=at).order_by("-version").values_list("version", flat=True).first()
    return last or 0
