"""The daily close (对帐日结, R-DAY-1): closed days, late records, totals, re-runs, exceptions."""

import datetime as dt

import pytest
from django.db import connection

from accounts.daybook import business_day_open, day_mark_closed
from accounts.errors import BusinessError
from accounts.ledger import journal_post, ledger_check
from accounts.models import CardType, Journal, LedgerAccount, Purse
from accounts.services import cash_account_for, purse_credit_pending, system_account
from merchants.models import MerchantKind
from settlement import services
from settlement.models import (
    CloseException,
    DayCardTypeTotal,
    DayClose,
    DayMerchantTotal,
    DayPurse,
    DayTerminalTotal,
    DayTrialBalance,
)
from terminals import wire as P
from terminals.models import Record

from .conftest import after_midnight

pytestmark = pytest.mark.django_db


def _rows(day):
    return sorted(DayMerchantTotal.objects.filter(day=day).values_list(
        "merchant_id", "purchases", "purchase_amount", "surcharge_amount", "settled", "held_amount", "refunds",
        "corrections"))


def test_r_day_1_a_day_that_has_not_ended_cannot_be_closed(today):
    with pytest.raises(BusinessError, match="has not ended"):
        services.day_close(day=today)
    with pytest.raises(BusinessError):
        day_mark_closed(day=today + dt.timedelta(days=1))
    assert not DayClose.objects.exists()


def test_r_day_1_totals_per_merchant_terminal_card_type_and_operator(till, funded_card, admin_user, merchants, today,
                                                                     travel):
    dining, water, topup = till(MerchantKind.DINING), till(MerchantKind.WATER), till(MerchantKind.TOPUP)
    formal = dining.card(funded_card(10000))
    anon = funded_card(10000, card_type=CardType.CONSUMPTION)
    dining.card(anon)
    dining.send([dining.purchase(formal, 500), dining.purchase(anon, 400, 60)])  # 15% surcharge on 400
    water.card(anon, balance=10000 - 460, counter=1)
    water.send([water.purchase(anon, 100, 100)])  # water: the merchant keeps the doubled price (R-SUR-2)
    cash_account_for(admin_user)
    topup.card(formal, balance=9500, counter=1)
    topup.send([topup.deposit(formal, 2000, admin_user.pk)])
    assert Record.objects.filter(status="posted").count() == 4

    travel(after_midnight(today))
    dc = services.day_close(day=today)
    assert dc.status == DayClose.Status.BALANCED, list(dc.exceptions.values_list("detail", flat=True))
    m = {r.merchant_id: r for r in DayMerchantTotal.objects.filter(day=today)}
    assert (m[merchants[MerchantKind.DINING].pk].settled, m[merchants[MerchantKind.DINING].pk].surcharge_amount) == (900, 60)
    assert (m[merchants[MerchantKind.WATER].pk].settled, m[merchants[MerchantKind.WATER].pk].surcharge_amount) == (200, 0)
    assert dc.purchase_amount == 1160 and dc.surcharge_amount == 60 and dc.deposit_amount == 2000
    assert (dc.settled, dc.held_amount) == (1100, 0)
    assert dc.totals["trial_balance"]["balanced"]
    op = dc.operators.get()
    assert (op.operator_id, op.deposit_amount, op.cash_from_terminals) == (admin_user.pk, 2000, 2000)
    types = {c.card_type: c for c in dc.card_types.all()}
    # The consumption card paid 60 board and energy fees (the catering centre's) and 100 for water (the merchant's).
    assert (types[CardType.CONSUMPTION].purchase_amount, types[CardType.CONSUMPTION].surcharge_amount) == (660, 60)
    assert types[CardType.FORMAL].deposit_amount == 2000
    assert dc.terminals.filter(terminal_id=water.terminal.pk).get().purchase_amount == 200
    assert dc.totals["purses"]["mismatched"] == 0


def test_r_day_1_rerun_is_idempotent_and_the_closed_day_is_immutable(till, funded_card, today, travel, admin_user):
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(5000))
    t.send([t.purchase(card, 300)])
    travel(after_midnight(today))
    first = services.day_close(day=today)
    before = (_rows(today), first.totals, first.status)
    # Nothing can be posted to the closed day any more …
    purse = Purse.objects.get(pk=card.purse_id)
    with pytest.raises(BusinessError, match="closed"):
        journal_post(kind=Journal.Kind.DEPOSIT, business_day=today,
                     lines=[(cash_account_for(admin_user), 1), (purse.account_id, -1)])
    # … so running it again gives exactly the same numbers.
    again = services.day_close(day=today)
    assert again.pk == first.pk and again.runs == 2
    assert (_rows(today), again.totals, again.status) == before


def test_r_day_1_late_record_is_posted_to_the_next_open_day_with_its_time_kept(till, funded_card, today, travel):
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(5000))
    t.send([t.purchase(card, 300)])
    late = t.purchase(card, 200)  # charged on the terminal today, uploaded after the close
    travel(after_midnight(today))
    services.day_close(day=today)
    closed_rows = _rows(today)
    t.send([late])
    rec = Record.objects.get(term_seq=late.term_seq, terminal=t.terminal)
    assert rec.status == "posted"
    assert rec.journal.business_day == today + dt.timedelta(days=1) == business_day_open()
    assert rec.time == dt.datetime.fromtimestamp(late.time, dt.UTC)  # its own time is kept
    assert services.day_close(day=today) and _rows(today) == closed_rows
    travel(after_midnight(today + dt.timedelta(days=1)))
    nxt = services.day_close(day=today + dt.timedelta(days=1))
    assert nxt.purchase_amount == 200 and nxt.status == DayClose.Status.BALANCED


def test_r_day_1_business_day_open_skips_closed_days(today, travel):
    travel(after_midnight(today + dt.timedelta(days=2)))
    day_mark_closed(day=today)
    day_mark_closed(day=today + dt.timedelta(days=1))
    from accounts.timeutil import BUSINESS_TZ

    at = dt.datetime.combine(today, dt.time(12), BUSINESS_TZ)
    assert business_day_open(at) == today + dt.timedelta(days=2)


def test_r_day_1_purse_rebuilt_from_yesterday_plus_movements(till, funded_card, today, travel):
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(5000))
    t.send([t.purchase(card, 300)])
    travel(after_midnight(today, 5))
    services.day_close(day=today)
    t.send([t.purchase(card, 200)])
    travel(after_midnight(today + dt.timedelta(days=1)))
    dc = services.day_close(day=today + dt.timedelta(days=1))
    row = DayPurse.objects.get(day=today + dt.timedelta(days=1), account_id=card.purse.account_id)
    assert (row.opening, row.movement, row.closing) == (4700, -200, 4500)
    assert dc.status == DayClose.Status.BALANCED


def test_r_day_1_a_purse_that_does_not_rebuild_is_an_exception_staff_resolve(till, funded_card, today, travel,
                                                                           admin_user):
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(5000))
    t.send([t.purchase(card, 300)])
    travel(after_midnight(today, 5))
    services.day_close(day=today)
    t.send([t.purchase(card, 200)])
    account = LedgerAccount.objects.get(pk=card.purse.account_id)
    with connection.cursor() as cur:  # a balance changed behind the ledger's back
        cur.execute("UPDATE accounts_ledgeraccount SET balance = balance + 7 WHERE id = %s", [account.pk])
    travel(after_midnight(today + dt.timedelta(days=1)))
    try:
        dc = services.day_close(day=today + dt.timedelta(days=1))
    finally:
        with connection.cursor() as cur:
            cur.execute("UPDATE accounts_ledgeraccount SET balance = balance - 7 WHERE id = %s", [account.pk])
    assert dc.status == DayClose.Status.EXCEPTIONS
    exc = dc.exceptions.get(kind=CloseException.Kind.PURSE)
    assert (exc.ref, exc.amount) == (str(account.pk), 7)
    # The trial balance finds it too: the purses' opening is not yesterday's closing (debit-positive,
    # so 7 more on a credit-normal purse is 7 less).
    trial = dc.exceptions.get(kind=CloseException.Kind.TRIAL_BALANCE)
    assert (trial.ref, trial.amount) == ("opening:purse", -7)
    with pytest.raises(BusinessError):
        services.close_exception_resolve(actor=admin_user, exception=exc, resolution="")
    services.close_exception_resolve(actor=admin_user, exception=exc, resolution="balance restored from postings")
    services.close_exception_resolve(actor=admin_user, exception=trial, resolution="balance restored from postings")
    dc.refresh_from_db()
    assert dc.status == DayClose.Status.BALANCED and dc.open_exceptions == 0
    # A re-run keeps the resolution: the difference stays listed as resolved, not reopened.
    assert services.day_close(day=today + dt.timedelta(days=1)).status == DayClose.Status.BALANCED


def test_r_term_2_unauthorised_offline_records_are_held_out(till, funded_card, today, travel, merchants):
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(5000))
    t.send([t.purchase(card, 300), t.purchase(card, 250, flags=P.FLAG_OFFLINE)])
    travel(after_midnight(today))
    services.day_close(day=today)
    row = DayMerchantTotal.objects.get(day=today, merchant=merchants[MerchantKind.RETAIL])
    assert (row.settled, row.held_count, row.held_amount) == (300, 1, 250)


def test_r_day_1_beat_closes_every_ended_day_since_the_last(today, travel):
    travel(after_midnight(today + dt.timedelta(days=1)))
    closes = services.days_close_due()
    assert [c.day for c in closes] == [today + dt.timedelta(days=1)]
    travel(after_midnight(today + dt.timedelta(days=3)))
    assert [c.day for c in services.days_close_due()] == [today + dt.timedelta(days=2), today + dt.timedelta(days=3)]
    assert services.days_close_due() == []


def _ledger_by_kind(day) -> dict[str, tuple[int, int, int, int]]:
    """kind -> (opening, debit, credit, closing) from the postings alone, debit-positive."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT a.kind, COALESCE(SUM(p.amount) FILTER (WHERE j.business_day < %s), 0),
                      COALESCE(SUM(p.amount) FILTER (WHERE j.business_day = %s AND p.amount > 0), 0),
                      COALESCE(-SUM(p.amount) FILTER (WHERE j.business_day = %s AND p.amount < 0), 0)
               FROM accounts_posting p JOIN accounts_journal j ON j.id = p.journal_id
               JOIN accounts_ledgeraccount a ON a.id = p.account_id WHERE j.business_day <= %s GROUP BY 1""",
            [day, day, day, day])
        return {k: (int(o), int(d), int(c), int(o) + int(d) - int(c)) for k, o, d, c in cur.fetchall()
                if o or d or c}


def _stored_by_kind(day) -> dict[str, tuple[int, int, int, int]]:
    return {r.kind: (r.opening, r.debit, r.credit, r.closing) for r in DayTrialBalance.objects.filter(day=day)}


def test_r_day_1_trial_balance_per_account_kind_is_the_ledger_and_carries_over(till, funded_card, admin_user, today,
                                                                              travel):
    """R-DAY-1: the stored 试算平衡表 is, per account kind, the postings' opening, debits, credits and
    closing; Σ debit = Σ credit and Σ opening = Σ closing = 0; the next day opens at this one's
    closing, with the journals posted meanwhile to the next open day (a late top-up) in it."""
    dining, topup = till(MerchantKind.DINING), till(MerchantKind.TOPUP)
    card = dining.card(funded_card(10000))
    cash_account_for(admin_user)
    dining.send([dining.purchase(card, 500, 75), dining.purchase(card, 300, 45, flags=P.FLAG_OFFLINE)])
    topup.card(card, balance=10000 - 920, counter=2)
    topup.send([topup.deposit(card, 2000, admin_user.pk)])
    travel(after_midnight(today))
    first = services.day_close(day=today)
    assert first.status == DayClose.Status.BALANCED, list(first.exceptions.values_list("detail", flat=True))
    assert _stored_by_kind(today) == _ledger_by_kind(today)
    kinds = _stored_by_kind(today)
    assert {"purse", "merchant", "surcharge", "suspense", "cash"} <= set(kinds)
    assert sum(v[1] for v in kinds.values()) == sum(v[2] for v in kinds.values()) > 0
    assert sum(v[0] for v in kinds.values()) == sum(v[3] for v in kinds.values()) == 0

    dining.send([dining.purchase(card, 100, 15)])  # after midnight: the next day's
    nxt = today + dt.timedelta(days=1)
    travel(after_midnight(nxt))
    second = services.day_close(day=nxt)
    assert second.status == DayClose.Status.BALANCED, list(second.exceptions.values_list("detail", flat=True))
    assert _stored_by_kind(nxt) == _ledger_by_kind(nxt)
    assert {k: v[0] for k, v in _stored_by_kind(nxt).items()} == {k: v[3] for k, v in kinds.items()}


def test_r_day_1_days_closed_before_get_their_trial_balance_from_the_postings(till, funded_card, today, travel):
    """The migration that adds the stored trial balance fills the days closed before it from the
    postings: the same rows the close writes."""
    import importlib

    backfill = importlib.import_module("settlement.migrations.0005_day_trial_balance").BACKFILL
    t = till(MerchantKind.DINING)
    card = t.card(funded_card(10000))
    t.send([t.purchase(card, 500, 75)])
    travel(after_midnight(today))
    services.day_close(day=today)
    t.send([t.purchase(card, 200, 30)])
    travel(after_midnight(today + dt.timedelta(days=1)))
    services.day_close(day=today + dt.timedelta(days=1))
    days = (today, today + dt.timedelta(days=1))
    stored = [_stored_by_kind(d) for d in days]
    DayTrialBalance.objects.all().delete()
    with connection.cursor() as cur:
        cur.execute(backfill)
    assert [_stored_by_kind(d) for d in days] == stored


def test_r_day_1_a_pending_credit_deposit_counts_whether_or_not_its_group_moved_money(till, funded_card, admin_user,
                                                                                      today, travel):
    """A pending-credit deposit (operator 0) moves no money, so a batch (or an intake group) of
    nothing else posts it without a journal; batched with a cash deposit it is posted in that
    deposit's journal. The day's figures are the same either way: the close reads the day's records by
    their business day, not through the day's journals."""
    a, b = funded_card(), funded_card()
    for card in (a, b):
        purse_credit_pending(purse=card.purse, amount=300, kind="refund", source=f"test:refund:{card.card_no}",
                             from_account=system_account("suspense"), actor=admin_user, reason="refund")
    alone, mixed = till(MerchantKind.TOPUP), till(MerchantKind.TOPUP)
    alone.card(a)
    alone.send([alone.deposit(a, 300, 0)])  # nothing else in the batch: no journal
    mixed.card(b)
    mixed.send([mixed.deposit(b, 300, 0), mixed.deposit(b, 1000, admin_user.pk)])  # with cash: in its journal
    assert Record.objects.filter(journal__isnull=True, status="posted").count() == 1
    assert Record.objects.filter(status="posted", business_day=today).count() == 3

    travel(after_midnight(today))
    dc = services.day_close(day=today)
    assert dc.status == DayClose.Status.BALANCED, list(dc.exceptions.values_list("detail", flat=True))
    assert dc.records == 3 and dc.totals["pending_written"] == 600 and dc.deposit_amount == 1000
    assert DayTerminalTotal.objects.get(day=today, terminal_id=alone.terminal.pk).deposit_amount == 300
    assert sum(DayCardTypeTotal.objects.filter(day=today).values_list("deposits", flat=True)) == 3
    assert ledger_check() == []
