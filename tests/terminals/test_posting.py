"""Posting stored records to the ledger: exactly once, every check of the contract's last table."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from accounts import services as acc
from accounts.models import Card, Journal, LedgerAccount, Purse
from merchants.models import MerchantKind
from terminals import wire as P
from terminals.ingest.posting import batch_post, cardflags_enforce
from terminals.models import Assignment, Batch, CardFlag, PostingSettings, Record
from terminals.services import offline_authorise

from .helpers import Till

pytestmark = pytest.mark.django_db


def balance(account):
    return LedgerAccount.objects.get(pk=account.pk if hasattr(account, "pk") else account).balance


@pytest.fixture
def tills(make_terminal, rates):
    return lambda kind=MerchantKind.DINING: Till(make_terminal(kind)[0])


@pytest.fixture
def card(funded_card):
    return funded_card(10000)


def test_purchase_moves_money_from_purse_to_merchant_once(tills, card, merchants):
    till = tills(MerchantKind.RETAIL)
    till.card(card)
    res = till.send([till.purchase(card, 1200), till.purchase(card, 300)], post=False)
    first = batch_post(res.batch_id)
    again = batch_post(res.batch_id)
    assert first["posted"] == 2 and again["skipped"]
    assert balance(card.purse.account) == 8500
    assert balance(merchants[MerchantKind.RETAIL].payable_account) == 1500
    assert Journal.objects.filter(source=f"batch:{res.batch_id}").count() == 1
    assert set(Record.objects.values_list("status", flat=True)) == {"posted"}
    purse = Purse.objects.get(pk=card.purse_id)
    assert (purse.card_counter, purse.card_balance) == (2, 8500)


def test_r_sur_1_dining_surcharge_goes_to_the_catering_account(tills, funded_card, merchants):
    """R-SUR-1: ordinary/consumption cards pay board + energy fees at dining; collected separately."""
    till = tills(MerchantKind.DINING)
    card = till.card(funded_card(5000, card_type=3))
    surcharge = P.surcharge_expected(1000, 3, 1, 1000, 500, 200)  # 15% of 10.00 yuan
    assert surcharge == 150
    till.send([till.purchase(card, 1000, surcharge)])
    assert balance(merchants[MerchantKind.DINING].payable_account) == 1000
    assert balance(acc.system_account("surcharge")) == 150
    assert balance(card.purse.account) == 5000 - 1150
    rec = Record.objects.get()
    assert rec.problems == []
    assert (rec.merchant_amount, rec.surcharge_amount, rec.held_amount) == (1000, 150, 0)  # stored as booked


def test_r_sur_2_water_price_multiplier_belongs_to_the_merchant(tills, funded_card, merchants):
    """R-SUR-2: at water control the ordinary/consumption price is a multiple of the formal one."""
    till = tills(MerchantKind.WATER)
    card = till.card(funded_card(5000, card_type=3))
    till.send([till.purchase(card, 100, 100)])
    assert balance(merchants[MerchantKind.WATER].payable_account) == 200
    assert balance(acc.system_account("surcharge")) == 0
    rec = Record.objects.get()
    assert (rec.merchant_amount, rec.surcharge_amount, rec.held_amount) == (200, 0, 0)


def test_wrong_surcharge_is_posted_as_charged_and_flagged(tills, funded_card, merchants):
    till = tills(MerchantKind.DINING)
    card = till.card(funded_card(5000, card_type=3))
    res = till.send([till.purchase(card, 1000, 99)])
    assert res.exceptions == 1
    rec = Record.objects.get()
    assert rec.status == "posted" and "surcharge" in rec.problems
    assert balance(acc.system_account("surcharge")) == 99 == rec.surcharge_amount


def test_r_term_2_unauthorised_offline_record_is_held_out_of_settlement(tills, card, merchants):
    """R-TERM-2: posted to the holder, held out of the merchant's settlement (credited to suspense)."""
    till = tills(MerchantKind.RETAIL)
    till.card(card)
    till.send([till.purchase(card, 500, flags=P.FLAG_OFFLINE)])
    rec = Record.objects.get()
    assert rec.status == "held" and "offline_unauthorised" in rec.problems
    assert balance(card.purse.account) == 9500
    assert balance(merchants[MerchantKind.RETAIL].payable_account) == 0
    assert balance(acc.system_account("suspense")) == -500  # a debit-side account, credited
    # The merchant is owed nothing for it: the whole charge is stored as held.
    assert (rec.merchant_amount, rec.surcharge_amount, rec.held_amount) == (0, 0, 500)


def test_r_sur_1_r_term_2_the_database_refuses_a_split_that_does_not_add_up(tills, funded_card):
    """A posted purchase's merchant_amount + surcharge_amount is what the card paid, a held one's
    held_amount; a record not posted has no split (CHECK record_split_adds_up)."""
    from django.db import IntegrityError, transaction

    till = tills(MerchantKind.DINING)
    card = till.card(funded_card(5000, card_type=3))
    till.send([till.purchase(card, 1000, 150), till.purchase(card, 200, 30, flags=P.FLAG_OFFLINE)])
    posted, held = Record.objects.get(status="posted"), Record.objects.get(status="held")
    for qs, change in ((Record.objects.filter(pk=posted.pk), {"merchant_amount": 1150}),
                       (Record.objects.filter(pk=posted.pk), {"surcharge_amount": 151, "merchant_amount": 999}),
                       (Record.objects.filter(pk=posted.pk), {"held_amount": 1}),
                       (Record.objects.filter(pk=held.pk), {"merchant_amount": 200, "held_amount": 30}),
                       (Record.objects.filter(pk=posted.pk), {"status": "exception"})):
        with pytest.raises(IntegrityError), transaction.atomic():
            qs.update(**change)


def test_r_term_2_authorised_offline_record_is_settled(tills, card, merchants, admin_user):
    till = tills(MerchantKind.RETAIL)
    till.card(card)
    now = timezone.now()
    offline_authorise(actor=admin_user, terminal=till.terminal, valid_from=now - dt.timedelta(hours=1),
                      valid_to=now + dt.timedelta(hours=1), reason="network works")
    till.send([till.purchase(card, 500, flags=P.FLAG_OFFLINE)])
    assert Record.objects.get().status == "posted"
    assert balance(merchants[MerchantKind.RETAIL].payable_account) == 500


def test_cash_deposit_moves_cash_on_hand_into_the_purse(tills, card, admin_user):
    till = tills(MerchantKind.TOPUP)
    till.card(card)
    till.send([till.deposit(card, 2000, operator_no=admin_user.pk)])
    assert balance(card.purse.account) == 12000
    assert balance(acc.cash_account_for(admin_user)) == 10000 + 2000  # fixture's top-up + this one


def test_pending_credit_deposit_moves_nothing_but_clears_pending(tills, card, admin_user):
    """0x40: host-side credit reaches the card through a top-up terminal with operator_no 0."""
    acc.purse_credit_pending(purse=card.purse, amount=300, kind="refund", source="test:refund",
                             from_account=acc.system_account("suspense"), actor=admin_user, reason="refund")
    till = tills(MerchantKind.TOPUP)
    till.card(card)
    till.send([till.deposit(card, 300, operator_no=0)])
    purse = Purse.objects.get(pk=card.purse_id)
    assert purse.pending == 0 and purse.account.balance == 10300 and purse.card_balance == 10300


def test_pending_deposit_above_pending_is_an_exception(tills, card):
    till = tills(MerchantKind.TOPUP)
    till.card(card)
    till.send([till.deposit(card, 300, operator_no=0)])
    assert "more_than_pending" in Record.objects.get().problems
    assert balance(card.purse.account) == 10000


def test_purchase_the_host_cannot_cover_is_an_exception_not_a_negative_purse(tills, card):
    till = tills(MerchantKind.RETAIL)
    till.card(card, balance=50000)
    till.send([till.purchase(card, 20000)])
    rec = Record.objects.get()
    assert rec.status == "exception" and "insufficient_host_balance" in rec.problems
    assert balance(card.purse.account) == 10000


def test_r_freeze_1_balance_mismatch_past_tolerance_freezes_the_card(tills, card):
    """R-FREEZE-1: card-vs-account (卡库不平) beyond the staff's tolerance freezes the card."""
    PostingSettings.objects.create(mismatch_fen=100, mismatch_days=3)
    till = tills(MerchantKind.RETAIL)
    till.card(card, balance=10500)  # the card says 5 yuan more than the account
    till.send([till.purchase(card, 100)])
    flag = CardFlag.objects.get()
    assert (flag.kind, flag.expected, flag.actual) == ("balance", 10000, 10500)
    assert Card.objects.get(pk=card.pk).status == "frozen"
    from accounts.models import BlockListEntry

    assert BlockListEntry.objects.filter(card_no=card.card_no, op=1).exists()


def test_small_mismatch_within_tolerance_is_flagged_only(tills, card):
    PostingSettings.objects.create(mismatch_fen=100, mismatch_days=3)
    till = tills(MerchantKind.RETAIL)
    till.card(card, balance=10050)
    till.send([till.purchase(card, 100)])
    assert CardFlag.objects.get().kind == "balance"
    assert Card.objects.get(pk=card.pk).status == "active"


def test_counter_gap_is_resolved_when_the_late_records_arrive(tills, card):
    """An offline terminal uploads later: the gap it left closes by itself, nothing is frozen."""
    online, offline = tills(MerchantKind.RETAIL), tills(MerchantKind.RETAIL)
    online.card(card)
    offline.card(card)
    late = offline.purchase(card, 100)  # counter 0, made first, uploaded last
    online.cards[card.card_no] = list(offline.cards[card.card_no])
    online.send([online.purchase(card, 200)])  # counter 1 arrives first: gap and balance flags
    assert set(CardFlag.objects.values_list("kind", flat=True)) == {"counter_gap", "balance"}
    assert Card.objects.get(pk=card.pk).status == "active"
    offline.send([late])
    assert not CardFlag.objects.filter(resolved_at__isnull=True).exists()
    assert "late_record" in Record.objects.get(card_counter=0).problems
    assert balance(card.purse.account) == 9700


def test_r_freeze_1_flag_unresolved_past_the_days_limit_freezes(tills, card):
    till = tills(MerchantKind.RETAIL)
    till.card(card, counter=5)  # a gap nobody fills
    till.send([till.purchase(card, 100)])
    assert cardflags_enforce() == 0
    assert cardflags_enforce(now=timezone.now() + dt.timedelta(days=4)) == 1
    assert Card.objects.get(pk=card.pk).status == "frozen"


def test_blocked_card_spent_is_posted_and_flagged(tills, card, admin_user):
    till = tills(MerchantKind.RETAIL)
    till.card(card)
    acc.card_report_loss(card=card, actor=admin_user, reason="lost")
    till.send([till.purchase(card, 100, at=timezone.now().timestamp() + 1)])
    assert Record.objects.get().status == "posted"
    assert CardFlag.objects.get().kind == "blocked_spent"
    assert balance(card.purse.account) == 9900


def test_r_dup_1_same_card_amount_within_min_interval_is_suspected_duplicate(tills, card):
    """R-DUP-1: listed for the merchant's refund; the money is posted as charged."""
    till = tills(MerchantKind.RETAIL)
    till.card(card)
    now = timezone.now().timestamp()
    till.send([till.purchase(card, 800, at=now), till.purchase(card, 800, at=now + 3)])
    second = Record.objects.get(term_seq=2)
    assert "suspected_duplicate" in second.problems and second.status == "posted"
    assert "suspected_duplicate" not in Record.objects.get(term_seq=1).problems


def test_r_dup_1_looks_back_over_the_terminals_interval_only_through_the_card_and_time_index(tills, card):
    """R-DUP-1 across batches (the intake's look into the record table): the same charge a day
    before is history, not a duplicate; the same charge 4 s after the last batch's is. The look is
    bounded by the time in the card's index, not by every record the card ever had."""
    till = tills(MerchantKind.RETAIL)
    Assignment.objects.update(valid_from=timezone.now() - dt.timedelta(days=2))  # the history falls in it
    till.card(card)
    now = timezone.now().timestamp()
    till.send([till.purchase(card, 200, at=now - 86400 - 60 * k) for k in range(30, 0, -1)])
    till.send([till.purchase(card, 200, at=now)])
    till.send([till.purchase(card, 200, at=now + 4)])
    suspected = [r.term_seq for r in Record.objects.order_by("term_seq") if "suspected_duplicate" in r.problems]
    assert suspected == [32]
    assert Record.objects.filter(status="posted").count() == 32
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'terminals_record'")
        defs = [d for d, in cur.fetchall()]
    assert any('(card_no, "time")' in d and "WHERE" not in d for d in defs), defs
    assert not any(d.endswith("(card_no)") for d in defs), defs  # the unbounded one is gone


def test_intake_exceptions_are_not_posted(tills, card):
    till = tills(MerchantKind.RETAIL)
    till.card(card)
    bad = till.purchase(card, 100)
    bad.balance_after -= 5
    till.send([bad])
    assert Record.objects.get().status == "exception"
    assert balance(card.purse.account) == 10000
    assert Batch.objects.get().posted_at is not None


def test_a_posting_run_takes_waiting_batches_along_in_one_journal(tills, card, merchants):
    till = tills(MerchantKind.RETAIL)
    till.card(card)
    ids = [till.send([till.purchase(card, 100)], post=False).batch_id for _ in range(5)]
    single = batch_post(ids[0], coalesce=0)
    assert single["batches"] == 1
    run = batch_post(ids[1])
    assert run["batches"] == 4 and run["posted"] == 4
    assert Journal.objects.filter(source__startswith="batches:").count() == 1
    assert all(batch_post(i)["skipped"] for i in ids)  # the other tasks find nothing left to do
    assert balance(card.purse.account) == 9500
    purse = Purse.objects.get(pk=card.purse_id)
    assert (purse.card_counter, purse.card_balance) == (5, 9500)
    assert not CardFlag.objects.exists()
