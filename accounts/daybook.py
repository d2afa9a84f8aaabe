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
    """The day's trial balance (试算平衡表) per ledger-account kind: the balance at the start and the
    end of the day and the day's debits, credits and postings. Balances are debit-positive (Σ of
    the postings; a credit balance is negative), so Σ opening = Σ closing = 0 and Σ debit = Σ
    credit over all kinds. The closing is each account's balance now less what later days moved,
    in one statement (one snapshot), so journals of today being posted meanwhile change nothing.
    Kinds with no balance and no movement are left out; any kind of account there is is listed."""
    with connection.cursor() as cur:
        cur.execute(
            """WITH moved AS (
                   SELECT p.account_id,
                          SUM(p.amount) FILTER (WHERE j.business_day = %(day)s AND p.amount > 0) AS debit,
                          -SUM(p.amount) FILTER (WHERE j.business_day = %(day)s AND p.amount < 0) AS credit,
                          COUNT(*) FILTER (WHERE j.business_day = %(day)s) AS postings,
                          SUM(p.amount) FILTER (WHERE j.business_day > %(day)s) AS later
                   FROM accounts_journal j JOIN accounts_posting p ON p.journal_id = j.id
                   WHERE j.business_day >= %(day)s
                   GROUP BY p.account_id)
               SELECT a.kind, SUM(a.normal * a.balance - COALESCE(m.later, 0)),
                      COALESCE(SUM(m.debit), 0), COALESCE(SUM(m.credit), 0), COALESCE(SUM(m.postings), 0)
               FROM accounts_ledgeraccount a LEFT JOIN moved m ON m.account_id = a.id
               GROUP BY a.kind ORDER BY a.kind""",
            {"day": day},
        )
        rows = []
        for kind, closing, debit, credit, postings in cur.fetchall():
            closing, debit, credit = int(closing), int(debit), int(credit)
            opening = closing - debit + credit
            if opening or debit or credit or closing:
                rows.append({"kind": kind, "opening": opening, "debit": debit, "credit": credit, "closing": closing,
                             "postings": int(postings)})
        return rows


def kind_movements_between(*, after: dt.date | None, before: dt.date) -> dict[str, int]:
    """Per account kind, Σ postings (debit-positive) of the business days strictly between `after`
    and `before` (all days before `before` when `after` is None): what a kind's balance moved
    between a stored closing and a day's opening. Empty when the days are adjacent."""
    if after is not None and after + dt.timedelta(days=1) >= before:
        return {}
    with connection.cursor() as cur:
        cur.execute(
            """SELECT a.kind, SUM(p.amount)
               FROM accounts_journal j
               JOIN accounts_posting p ON p.journal_id = j.id
               JOIN accounts_ledgeraccount a ON a.id = p.account_id
               WHERE j.business_day < %s AND (%s::date IS NULL OR j.business_day > %s)
               GROUP BY a.kind""",
            [before, after, after],
        )
        return {k: int(v) for k, v in cur.fetchall()}


def day_postings(*, day: dt.date, kind: str, account_id: int | None = None,
                 limit: int = 500) -> tuple[int, list[dict]]:
    """The day's postings on accounts of one kind (or one account of it), for the day-close page:
    how many, and the first `limit` with their journal and account (debit-positive amounts)."""
    where = "j.business_day = %s AND a.kind = %s AND (%s::bigint IS NULL OR a.id = %s)"
    params = [day, kind, account_id, account_id]
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT COUNT(*) FROM accounts_posting p
                JOIN accounts_journal j ON j.id = p.journal_id JOIN accounts_ledgeraccount a ON a.id = p.account_id
                WHERE {where}""",
            params,
        )
        count = cur.fetchone()[0]
        cur.execute(
            f"""SELECT j.id, j.kind, j.created_at, j.reason, a.id, a.code, a.name, p.amount
                FROM accounts_posting p
                JOIN accounts_journal j ON j.id = p.journal_id JOIN accounts_ledgeraccount a ON a.id = p.account_id
                WHERE {where} ORDER BY j.id, p.id LIMIT %s""",
            [*params, limit],
        )
        rows = [{"journal_id": jid, "journal_kind": jk, "at": at, "reason": reason, "account_id": aid,
                 "account_code": code, "account_name": name, "amount": int(amount)}
                for jid, jk, at, reason, aid, code, name, amount in cur.fetchall()]
    return count, rows


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


def accounts_named(*, account_ids) -> dict[int, dict]:
    """id -> {code, name, kind} of ledger accounts, for naming them on the day-close page."""
    from .models import LedgerAccount

    return {a["id"]: a for a in LedgerAccount.objects.filter(id__in=list(account_ids)).values("id", "code", "name", "kind")}


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
