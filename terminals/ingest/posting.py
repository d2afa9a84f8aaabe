"""Posting stored batches to the ledger, exactly once.

batch_post(batch_id) locks the batch row, and with it other unposted batches that no other
worker holds (SKIP LOCKED), so a backlog is posted in large runs. A posted batch is left alone:
a task delivered twice (sweeper, redelivery after a killed worker) does nothing the second time.
Inside one transaction a run locks the purses and ledger accounts it touches (purses, then
accounts, each in id order), walks the records in (batch, term_seq) order in memory, and writes
the result with a handful of set-based statements: one journal (source "batch:<id>" or
"batches:…", unique) with one aggregated posting per account, one UPDATE of the purses' card
state, one UPDATE for the records posted plainly and one for those with something to say.

The split of each purchase (Record.merchant_amount, surcharge_amount, held_amount) is decided
in one place, _split, and the same numbers go into the journal's lines and into the record rows,
in the statements that post them. It is the only place the merchant kind decides money; every
reader sums the stored columns.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

from django.db import connection, transaction
from django.utils import timezone

from accounts.ledger import journal_post, posting_lock, purse_card_state_update
from accounts.models import Journal, LedgerAccount
from accounts.selectors import block_history, cards_for_posting, cash_accounts_by_operator
from accounts.timeutil import business_day
from merchants.models import Merchant, MerchantKind

from .. import wire as protocol
from ..models import Batch, CardFlag, OfflineAuthorisation, PostingSettings, Record, Terminal
from .cardflags import cardflags_resolve_filled
from .intake import SOFT_PROBLEMS as SOFT

R = Record.Status


def _blocked_at(history: list[tuple], at: dt.datetime) -> bool:
    blocked = False
    for when, op in history:
        if when > at:
            break
        blocked = op == 1
    return blocked


def _offline_authorised(periods: list[OfflineAuthorisation], at: dt.datetime) -> bool:
    return any(p.valid_from <= at < p.valid_to for p in periods)


# A posting run takes up to this many records: the fixed costs of a transaction (locks, the
# journal, the commit) are paid once for many batches when a backlog builds up.
COALESCE_RECORDS = 20_000


def batch_post(batch_id: int, *, coalesce: int = COALESCE_RECORDS) -> dict:
    """Post a batch's received records, together with other unposted batches nobody else is
    posting (SKIP LOCKED), up to ``coalesce`` records. Idempotent: a posted batch is left alone,
    so a task delivered twice (sweeper, redelivery after a killed worker) changes nothing."""
    to_freeze: list[int] = []
    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(pk=batch_id).values_list("pk", "posted_at", "stored").first()
        ids, size = ([batch_id], batch[2]) if batch is not None and batch[1] is None else ([], 0)
        if coalesce:
            for pk, stored in (Batch.objects.select_for_update(skip_locked=True)
                               .filter(posted_at__isnull=True).exclude(pk=batch_id).order_by("pk")
                               .values_list("pk", "stored")[:200]):
                if size + stored > coalesce and ids:
                    break
                ids.append(pk)
                size += stored
        if not ids:
            return {"posted": 0, "skipped": True}
        records = _rows(Record.objects.filter(batch_id__in=ids, status=R.RECEIVED).order_by("batch_id", "term_seq"))
        source = f"batch:{ids[0]}" if len(ids) == 1 else f"batches:{ids[0]}+{len(ids) - 1}:{min(ids)}-{max(ids)}"
        result = (_post_records(records, to_freeze, source=source, reason=f"{len(ids)} batch(es) from {ids[0]}")
                  if records else {"posted": 0})
        Batch.objects.filter(pk__in=ids).update(posted_at=timezone.now())
        result["batches"] = len(ids)
    # Freezing changes cards (and the block list): done after the posting commits, each in its
    # own transaction, so the posting never holds card locks (lock order: card, purse, account).
    for card_no in to_freeze:
        card_freeze_for_mismatch(card_no=card_no)
    return result


_FIELDS = ("id", "terminal_id", "term_seq", "card_no", "kind", "card_counter", "flags", "base_amount", "surcharge",
           "balance_before", "balance_after", "time", "operator_no", "merchant_id", "problems")


def _rows(queryset) -> list:
    """Records as light named tuples: a posting run reads thousands, model instances cost more
    than the posting itself."""
    return list(queryset.values_list(*_FIELDS, named=True))


def card_freeze_for_mismatch(*, card_no: int) -> int:
    from accounts.errors import BusinessError
    from accounts.selectors import card_get
    from accounts.services import card_freeze

    card = card_get(card_no=card_no)
    if card is not None and card.status == "active":
        try:
            card_freeze(card=card, channel="system", reason="卡库不平 card-vs-account difference past tolerance")
            return 1
        except BusinessError:
            pass  # the card changed status meanwhile; nothing to freeze
    return 0


def records_repost(*, record_ids: list[int], source: str, reason: str, actor=None) -> dict:
    """Post exception records again, after their cause went away (the top-up they spent arrived)
    or staff decided to post them, in one journal. The records are locked, so a record is posted
    once whoever calls this."""
    to_freeze: list[int] = []
    result = {"posted": 0, "exceptions": 0, "flags": 0}
    with transaction.atomic():
        locked = list(Record.objects.select_for_update().filter(pk__in=record_ids, status=R.EXCEPTION)
                      .values_list("pk", flat=True))
        records = [r._replace(problems=[p for p in r.problems if p not in RETRYABLE])
                   for r in _rows(Record.objects.filter(pk__in=locked).order_by("terminal_id", "term_seq"))]
        if records:
            result = _post_records(records, to_freeze, source=source, reason=reason, actor=actor,
                                   rewrite_problems=True)
    for card_no in to_freeze:
        card_freeze_for_mismatch(card_no=card_no)
    return result


# Problems that a later posting may cure without staff: the host balance arrives with a top-up.
RETRYABLE = {"insufficient_host_balance", "more_than_pending"}


def records_retry_pending(*, limit: int = 5000) -> dict:
    """Re-post records held back only by a retryable problem (a purchase uploaded before the
    top-up it spent). Run by beat; whatever still cannot be posted stays an exception."""
    ids = list(
        Record.objects.filter(status=R.EXCEPTION, problems__has_any_keys=sorted(RETRYABLE))
        .order_by("id").values_list("id", "problems")[:limit]
    )
    hard_free = [pk for pk, problems in ids if not (set(problems) - RETRYABLE - SOFT)]
    if not hard_free:
        return {"posted": 0}
    return records_repost(record_ids=hard_free, source=f"retry:{hard_free[0]}:{timezone.now().timestamp():.6f}",
                          reason="automatic retry: the host balance now covers it")


def _post_records(records: list, to_freeze: list[int], *, source: str, reason: str, actor=None,
                  rewrite_problems: bool = False) -> dict:
    """Post records (of one or many terminals, in order) in one journal; see the module doc."""
    terminal_ids = {r.terminal_id for r in records}
    min_interval = {pk: dt.timedelta(seconds=s) for pk, s in
                    Terminal.objects.filter(pk__in=terminal_ids).values_list("pk", "min_interval_s")}
    cards = cards_for_posting(card_nos={r.card_no for r in records})
    merchants = {m.pk: m for m in Merchant.objects.filter(pk__in={r.merchant_id for r in records if r.merchant_id})}
    cash = cash_accounts_by_operator(operator_nos={r.operator_no for r in records if r.operator_no})
    system = dict(LedgerAccount.objects.filter(kind__in=["surcharge", "suspense"]).values_list("kind", "id"))
    account_ids = {m.payable_account_id for m in merchants.values()} | set(cash.values()) | set(system.values())
    purses = posting_lock(purse_ids={c["purse_id"] for c in cards.values()}, account_ids=account_ids)
    history = block_history(card_nos=set(cards))
    periods: dict[int, list] = defaultdict(list)
    for period in OfflineAuthorisation.objects.filter(terminal_id__in=terminal_ids):
        periods[period.terminal_id].append(period)
    tolerance = PostingSettings.objects.first() or PostingSettings()
    last_charge = _recent_charges(records, max(min_interval.values(), default=dt.timedelta(0)))

    delta: dict[int, int] = defaultdict(int)
    updates, flags, touched, late_cards = [], [], set(), set()
    for rec in records:
        problems = list(rec.problems)
        card = cards.get(rec.card_no)
        if card is None:  # card deleted since intake cannot happen (PROTECT); defensive
            updates.append((rec.id, R.EXCEPTION, problems + ["unknown_card"]))
            continue
        purse = purses[card["purse_id"]]
        status = R.POSTED
        total = rec.base_amount + rec.surcharge
        merchant = merchants.get(rec.merchant_id)
        split = NO_SPLIT

        # Money first: what the host can post without going below zero.
        if rec.kind == protocol.RecordKind.PURCHASE:
            if purse["balance"] - total < 0:
                updates.append((rec.id, R.EXCEPTION, problems + ["insufficient_host_balance"]))
                continue
            offline_ok = (not (rec.flags & protocol.FLAG_OFFLINE)
                          or _offline_authorised(periods[rec.terminal_id], rec.time))
            if not offline_ok:
                status = R.HELD  # posted to the holder, held out of settlement (R-TERM-2)
                problems.append("offline_unauthorised")
            split = _split(rec, merchant.kind if merchant else None, held=not offline_ok)
            to_merchant, to_surcharge, to_suspense = split
            if to_merchant:
                delta[merchant.payable_account_id] -= to_merchant
            if to_surcharge:
                delta[system["surcharge"]] -= to_surcharge
            if to_suspense:
                delta[system["suspense"]] -= to_suspense
            delta[purse["account_id"]] += total
            purse["balance"] -= total
            prev = last_charge.get((rec.terminal_id, rec.card_no))
            if (prev is not None and prev.base_amount == rec.base_amount
                    and abs(rec.time - prev.time) <= min_interval[rec.terminal_id]):
                problems.append("suspected_duplicate")  # R-DUP-1: listed for the merchant's refund
            last_charge[(rec.terminal_id, rec.card_no)] = rec
        else:  # DEPOSIT
            if rec.operator_no == 0:
                if rec.base_amount > purse["pending"]:
                    updates.append((rec.id, R.EXCEPTION, problems + ["more_than_pending"]))
                    continue
                purse["pending"] -= rec.base_amount  # already in the account; now on the card too
            else:
                cash_account = cash.get(rec.operator_no)
                if cash_account is None:
                    updates.append((rec.id, R.EXCEPTION, problems + ["unknown_operator"]))
                    continue
                delta[cash_account] += rec.base_amount
                delta[purse["account_id"]] -= rec.base_amount
                purse["balance"] += rec.base_amount

        # Card-vs-account (卡库不平): does the card continue where the host last saw it? The purse
        # keeps the counter the card should carry next and the balance it should hold.
        if rec.card_counter < purse["card_counter"]:
            problems.append("late_record")  # an older transaction arriving late; the card state stays
            late_cards.add(rec.card_no)
        else:
            if rec.card_counter != purse["card_counter"]:
                flags.append(CardFlag(card_no=rec.card_no, record_id=rec.id, kind=CardFlag.Kind.COUNTER_GAP,
                                      expected=purse["card_counter"], actual=rec.card_counter))
            if rec.balance_before != purse["card_balance"]:
                flags.append(CardFlag(card_no=rec.card_no, record_id=rec.id, kind=CardFlag.Kind.BALANCE,
                                      expected=purse["card_balance"], actual=rec.balance_before))
                # With no counter gap nothing can explain the difference later: past the fen
                # tolerance the card is frozen now. A gap may be filled by a terminal that was
                # offline; such flags wait (cardflags_enforce freezes them after the days' limit).
                if (rec.card_counter == purse["card_counter"]
                        and abs(rec.balance_before - purse["card_balance"]) > tolerance.mismatch_fen):
                    to_freeze.append(rec.card_no)
            purse["card_counter"], purse["card_balance"] = rec.card_counter + 1, rec.balance_after
        if _blocked_at(history.get(rec.card_no, []), rec.time):
            flags.append(CardFlag(card_no=rec.card_no, record_id=rec.id, kind=CardFlag.Kind.BLOCKED_SPENT,
                                  expected=0, actual=total))
        touched.add(card["purse_id"])
        updates.append((rec.id, status, problems, rewrite_problems or problems != rec.problems, *split))

    journal = None
    delta = {k: v for k, v in delta.items() if v}
    if delta:
        journal = journal_post(kind=Journal.Kind.PURCHASE, lines=list(delta.items()), source=source, reason=reason,
                               actor=actor)
    now = timezone.now()
    purse_card_state_update(states={pid: purses[pid] for pid in touched}, seen_at=now)
    CardFlag.objects.bulk_create(flags)
    # Late arrivals belong to the day the ledger posts them to (a closed day stays closed).
    _records_update(updates, journal.pk if journal else None, now,
                    journal.business_day if journal else business_day(now))
    if late_cards:
        cardflags_resolve_filled(card_nos=late_cards, now=now)
    return {"posted": sum(1 for u in updates if u[1] in (R.POSTED, R.HELD)),
            "exceptions": sum(1 for u in updates if u[1] == R.EXCEPTION), "flags": len(flags)}


def cardflags_enforce(*, now=None) -> int:
    """Freeze the cards whose card-vs-account flags stayed open past the staff's days' limit
    (R-FREEZE-1). Returns how many cards were frozen."""
    now = now or timezone.now()
    tolerance = PostingSettings.objects.first() or PostingSettings()
    cutoff = now - dt.timedelta(days=tolerance.mismatch_days)
    card_nos = set(
        CardFlag.objects.filter(resolved_at__isnull=True, at__lt=cutoff)
        .exclude(kind=CardFlag.Kind.BLOCKED_SPENT).values_list("card_no", flat=True)
    )
    frozen = 0
    for card_no in sorted(card_nos):
        frozen += card_freeze_for_mismatch(card_no=card_no)
    return frozen


NO_SPLIT = (0, 0, 0)


def _split(rec, merchant_kind: int | None, *, held: bool) -> tuple[int, int, int]:
    """(merchant_amount, surcharge_amount, held_amount) of a purchase posted now, in fen; they
    add up to what the card was charged (base + surcharge). Stored in the record and booked in the
    journal from the same tuple."""
    total = rec.base_amount + rec.surcharge
    if held:
        return 0, 0, total  # to suspense; the merchant is not owed it (R-TERM-2)
    if merchant_kind == MerchantKind.DINING:
        return rec.base_amount, rec.surcharge, 0  # board and energy fees for the catering centre (R-SUR-1)
    return total, 0, 0  # the water price (R-SUR-2), or no surcharge at all: the merchant's


def _recent_charges(records: list, window: dt.timedelta) -> dict[tuple[int, int], object]:
    """The latest purchase already posted per (terminal, card), for the duplicate-charge guard."""
    first_time = min(r.time for r in records)
    earlier = _rows(Record.objects.filter(
        terminal_id__in={r.terminal_id for r in records}, card_no__in={r.card_no for r in records},
        kind=protocol.RecordKind.PURCHASE, time__gte=first_time - window, status__in=(R.POSTED, R.HELD),
    ).order_by("terminal_id", "term_seq"))
    return {(r.terminal_id, r.card_no): r for r in earlier}


def _records_update(updates: list[tuple], journal_id: int | None, now, day) -> None:
    """Write the outcome: one UPDATE for the plain case (posted, nothing new to say) from arrays of
    ids and splits, one with a VALUES list for the records whose status or problems changed. Each
    record's split goes in with its status: updates are (id, status, problems[, changed,
    merchant_amount, surcharge_amount, held_amount])."""
    plain = [u for u in updates if u[1] == R.POSTED and len(u) > 3 and not u[3]]
    other = [u for u in updates if not (u[1] == R.POSTED and len(u) > 3 and not u[3])]
    with connection.cursor() as cur:
        if plain:
            cur.execute(
                """UPDATE terminals_record r SET status = 'posted', journal_id = %s, posted_at = %s, business_day = %s,
                          merchant_amount = v.m, surcharge_amount = v.s, held_amount = 0
                   FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS v(id, m, s) WHERE r.id = v.id""",
                [journal_id, now, day, [u[0] for u in plain], [u[4] for u in plain], [u[5] for u in plain]],
            )
        if other:
            values = ",".join(["(%s::bigint, %s, %s::jsonb, %s::bigint, %s::bigint, %s::bigint)"] * len(other))
            params = [x for u in other for x in (u[0], u[1], json.dumps(u[2]), *(u[4:7] if len(u) > 4 else NO_SPLIT))]
            cur.execute(
                f"""UPDATE terminals_record r SET status = v.status, problems = v.problems,
                        journal_id = CASE WHEN v.status IN ('posted', 'held') THEN %s::bigint ELSE NULL END,
                        posted_at = CASE WHEN v.status IN ('posted', 'held') THEN %s::timestamptz ELSE NULL END,
                        business_day = %s::date, merchant_amount = v.m, surcharge_amount = v.s, held_amount = v.h
                    FROM (VALUES {values}) AS v(id, status, problems, m, s, h) WHERE r.id = v.id""",
                [journal_id, now, day, *params],
            )
