"""The only code that creates journals and postings.

journal_post() validates a balanced set of lines, locks the accounts in id order (so two
journals touching the same accounts can never deadlock), writes the journal and its postings
and applies one aggregated balance update. The database checks the same things again: a
deferred trigger refuses a journal that does not sum to zero, a CHECK refuses a negative purse.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from .daybook import journal_business_day
from .errors import BusinessError, InsufficientFunds
from .models import Journal, LedgerAccount, Posting

Line = tuple[LedgerAccount | int, int]


def _account_id(account: LedgerAccount | int) -> int:
    return account if isinstance(account, int) else account.pk


def journal_post(
    *,
    kind: str,
    lines: Iterable[Line],
    actor=None,
    reason: str = "",
    source: str | None = None,
    business_day: dt.date | None = None,
) -> Journal:
    """Post one balanced journal. `lines` are (account, amount): debit positive, credit negative."""
    lines = [(_account_id(a), int(amount)) for a, amount in lines]
    if len(lines) < 2:
        raise BusinessError(_("A journal needs at least two postings."))
    if any(amount == 0 for _, amount in lines):
        raise BusinessError(_("A posting amount cannot be zero."))
    if sum(amount for _, amount in lines) != 0:
        raise BusinessError(_("Debits and credits of a journal must be equal."))
    if kind not in Journal.Kind.values:
        raise BusinessError(_("Unknown journal kind \"%(kind)s\".") % {"kind": kind})

    delta: dict[int, int] = defaultdict(int)
    for account_id, amount in lines:
        delta[account_id] += amount

    with transaction.atomic():
        accounts = {
            a.pk: a
            for a in LedgerAccount.objects.select_for_update().filter(pk__in=delta).order_by("pk")
        }
        if len(accounts) != len(delta):
            raise BusinessError(_("A posting names an account that does not exist."))
        for account_id, d in delta.items():
            account = accounts[account_id]
            if account.kind == LedgerAccount.Kind.PURSE and account.balance + account.normal * d < 0:
                raise InsufficientFunds(_("Insufficient balance in %(code)s: %(balance)s fen available.") % {
                    "code": account.code, "balance": account.balance})
        # The first open business day (a closed day is immutable, R-DAY-1); the day book's
        # lock is held shared until commit so the daily close never misses this journal.
        day = journal_business_day(business_day)
        try:
            with transaction.atomic():
                journal = Journal.objects.create(
                    kind=kind, actor=actor, reason=reason[:200], source=source, business_day=day,
                )
        except IntegrityError as exc:
            raise BusinessError(_("Journal for \"%(source)s\" was already posted.") % {"source": source}) from exc
        Posting.objects.bulk_create(
            Posting(journal=journal, account_id=account_id, amount=amount) for account_id, amount in lines
        )
        values = ",".join(["(%s::bigint, %s::bigint)"] * len(delta))
        params = [x for pair in sorted(delta.items()) for x in pair]
        with connection.cursor() as cur:
            cur.execute(
                f"""UPDATE accounts_ledgeraccount a SET balance = a.balance + a.normal * v.d
                    FROM (VALUES {values}) AS v(id, d) WHERE a.id = v.id""",
                params,
            )
        for account_id, account in accounts.items():  # keep callers' objects truthful
            account.balance += account.normal * delta[account_id]
    return journal


def ledger_check() -> list[str]:
    """Invariant violations: unbalanced journals, balances that drifted from their postings."""
    problems = []
    with connection.cursor() as cur:
        cur.execute(
            """SELECT journal_id, SUM(amount) FROM accounts_posting
               GROUP BY journal_id HAVING SUM(amount) <> 0 OR COUNT(*) < 2"""
        )
        problems += [f"journal {j} sums to {s}" for j, s in cur.fetchall()]
        cur.execute(
            """SELECT a.code, a.balance, a.normal * COALESCE(SUM(p.amount), 0)
               FROM accounts_ledgeraccount a LEFT JOIN accounts_posting p ON p.account_id = a.id
               GROUP BY a.id HAVING a.balance <> a.normal * COALESCE(SUM(p.amount), 0)"""
        )
        problems += [f"account {c} balance {b} but postings say {s}" for c, b, s in cur.fetchall()]
    return problems


def posting_lock(*, purse_ids, account_ids) -> dict[int, dict]:
    """Lock purses, then ledger accounts, each in id order (the order every writer uses), and
    return the purses' state: account balance (库), last card state (卡) and pending credit."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT p.id, p.account_id, p.card_counter, p.card_balance, p.pending
               FROM accounts_purse p WHERE p.id = ANY(%s) ORDER BY p.id FOR UPDATE""",
            [sorted(purse_ids)],
        )
        purses = {pid: {"account_id": aid, "card_counter": cc, "card_balance": cb, "pending": pend}
                  for pid, aid, cc, cb, pend in cur.fetchall()}
        cur.execute(
            "SELECT id, balance FROM accounts_ledgeraccount WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            [sorted(set(account_ids) | {p["account_id"] for p in purses.values()})],
        )
        balances = dict(cur.fetchall())
    for p in purses.values():
        p["balance"] = balances[p["account_id"]]
    return purses


def purse_card_state_update(*, states: dict[int, dict], seen_at) -> None:
    """One UPDATE for the card state (卡) and pending credit of every purse a batch touched."""
    if not states:
        return
    values = ",".join(["(%s::bigint, %s::int, %s::bigint, %s::bigint)"] * len(states))
    params = [x for pid, s in sorted(states.items()) for x in (pid, s["card_counter"], s["card_balance"], s["pending"])]
    with connection.cursor() as cur:
        cur.execute(
            f"""UPDATE accounts_purse p SET card_counter = v.c, card_balance = v.b, pending = v.pend,
                    card_seen_at = %s
                FROM (VALUES {values}) AS v(id, c, b, pend) WHERE p.id = v.id""",
            [seen_at, *params],
        )


# --- set-based posting for the intake hot path (terminals.ingest.intake) --------------------
#
# A group of terminal batches is posted in the transaction that stores it. The caller writes
# rows that point at the journal first (journal_open), and hands its lines over as SQL at the
# end (journal_lines_post), so the row locks of the hot accounts (the merchant payables, the
# surcharge payable) are taken in id order just before the commit and held only for it: no
# single row lock serialises the intake of many terminals.

def journal_open(*, kind: str, source: str, reason: str = "", actor_id: int | None = None) -> tuple[int, dt.date]:
    """Create a journal whose postings follow in the same transaction (journal_lines_post), and
    return (id, business day). The deferred balance trigger refuses the commit if they never come
    or do not sum to zero. The day book is held shared until commit, as journal_post does."""
    if kind not in Journal.Kind.values:
        raise BusinessError(_("Unknown journal kind \"%(kind)s\".") % {"kind": kind})
    day = journal_business_day(None)
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO accounts_journal (kind, business_day, created_at, actor_id, reason, source)
               VALUES (%s, %s, now(), %s, %s, %s) RETURNING id""",
            [kind, day, actor_id, reason[:200], source],
        )
        return cur.fetchone()[0], day


_LINES = "CREATE TEMP TABLE IF NOT EXISTS ledger_lines (account_id bigint, amount bigint) ON COMMIT DELETE ROWS"


def journal_lines_post(*, journal_id: int, lines_sql: str, params=()) -> int:
    """The postings of a journal opened with journal_open, from ``lines_sql`` (a SELECT of
    (account_id, amount) rows, debit positive; several rows of one account are summed), and one
    aggregated balance update. Locks the accounts in id order first; refuses (InsufficientFunds)
    a purse that would go below zero, and an unbalanced set, before writing anything.
    Returns the number of postings."""
    with connection.cursor() as cur:
        cur.execute(_LINES)
        cur.execute("DELETE FROM ledger_lines")
        cur.execute(
            f"""INSERT INTO ledger_lines SELECT account_id, SUM(amount) FROM ({lines_sql}) l(account_id, amount)
                GROUP BY account_id HAVING SUM(amount) <> 0""",
            params,
        )
        cur.execute("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ledger_lines")
        n, total = cur.fetchone()
        if n < 2 or total != 0:
            raise BusinessError(_("Debits and credits of a journal must be equal."))
        cur.execute(
            """SELECT COUNT(*) FROM (SELECT a.id FROM accounts_ledgeraccount a
                   WHERE a.id IN (SELECT account_id FROM ledger_lines) ORDER BY a.id FOR UPDATE) locked"""
        )
        if cur.fetchone()[0] != n:
            raise BusinessError(_("A posting names an account that does not exist."))
        cur.execute(
            """SELECT a.code, a.balance FROM accounts_ledgeraccount a JOIN ledger_lines l ON l.account_id = a.id
               WHERE a.kind = 'purse' AND a.balance + a.normal * l.amount < 0 LIMIT 1"""
        )
        short = cur.fetchone()
        if short is not None:
            raise InsufficientFunds(_("Insufficient balance in %(code)s: %(balance)s fen available.") % {
                "code": short[0], "balance": short[1]})
        cur.execute(
            """INSERT INTO accounts_posting (journal_id, account_id, amount)
               SELECT %s, account_id, amount FROM ledger_lines ORDER BY account_id""",
            [journal_id],
        )
        cur.execute(
            """UPDATE accounts_ledgeraccount a SET balance = a.balance + a.normal * l.amount
               FROM ledger_lines l WHERE a.id = l.account_id"""
        )
    return n


def purses_card_state_post(*, states_sql: str, params=(), seen_at) -> int:
    """The card state (卡) of purses from ``states_sql``, a SELECT of (purse_id, card_counter,
    card_balance, pending_spent) with one row per purse, in one UPDATE: pending_spent is what
    pending-credit deposits wrote onto the card, taken from the purse's pending credit (过渡余额).
    The caller holds the purses' locks and has checked that the pending credit covers it."""
    with connection.cursor() as cur:
        cur.execute(
            f"""UPDATE accounts_purse p SET card_counter = v.c, card_balance = v.b, card_seen_at = %s,
                       pending = p.pending - v.spent
                FROM ({states_sql}) v(id, c, b, spent) WHERE p.id = v.id""",
            [seen_at, *params],
        )
        return cur.rowcount


def purses_lock(*, ids_sql: str, params=()) -> int:
    """Lock the purses named by ``ids_sql`` (a SELECT of purse ids) in id order, the order every
    writer takes them in (purses, then accounts)."""
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT COUNT(*) FROM (SELECT p.id FROM accounts_purse p WHERE p.id IN ({ids_sql})
                ORDER BY p.id FOR UPDATE) locked""",
            params,
        )
        return cur.fetchone()[0]
