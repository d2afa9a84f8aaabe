"""Card fees (R-FEE-1..4): amounts come from the fee schedule with effective dates, never from
constants; every fee goes to the card-fee special account."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from accounts import services
from accounts.errors import BusinessError
from accounts.models import AuditLog, CardType, FeeSchedule, Journal
from tests.accounts.helpers import (
    adjust,
    at,
    balance,
    fast_password_hashing,  # noqa: F401
    formal_card,
    fund,
    purse_of,
    snapshot,
)
from tests.factories import HolderFactory, UnitFactory

pytestmark = pytest.mark.django_db


def _rows(n: int, prefix: str = "F"):
    return [{"_row": i + 2, "number": f"{prefix}{i}", "name": f"人员{i}", "category": "other_resident"}
            for i in range(n)]


def test_default_fees_are_30_yuan_R_FEE_2_R_FEE_3():
    assert services.fee_amount(FeeSchedule.Kind.NEW_CARD) == 3000
    assert services.fee_amount(FeeSchedule.Kind.REPLACEMENT) == 3000


def test_first_formal_card_is_free_R_FEE_1(staff):
    card = formal_card(staff)
    assert balance("card_fee") == 0
    assert not Journal.objects.filter(kind="card_fee").exists()
    assert AuditLog.objects.get(action="card_issue", card=card).data == {"fee": 0, "first": True}


def test_formal_card_after_closure_and_reopen_pays_the_new_card_fee_R_FEE_1_R_CLOSE_4(staff, finance):
    card = formal_card(staff)
    holder = card.holder
    services.account_close(actor=finance, holder=holder, reason="left the school")
    services.holder_reopen(actor=staff, holder=holder, reason="re-employed")
    again = services.card_issue_formal(actor=staff, holder=holder, fee_payment="cash")
    assert again.card_no != card.card_no
    assert balance("card_fee") == 3000
    assert services.cash_account_for(staff).balance == 3000
    entry = AuditLog.objects.get(action="card_issue", card=again)
    assert entry.data == {"fee": 3000, "first": False}
    assert sorted(entry.journal.postings.values_list("account__kind", "amount")) == [("card_fee", -3000), ("cash", 3000)]


def test_new_card_fee_paid_from_the_purse_leaves_card_and_account_equal_R_FEE_1(staff, finance):
    """A reopened holder with money on the purse pays the fee from it: the new card must carry
    the balance after the fee, or card and account disagree from the first tap (卡库不平)."""
    holder = formal_card(staff).holder
    services.account_close(actor=finance, holder=holder, reason="left")
    services.holder_reopen(actor=staff, holder=holder, reason="back")
    adjust(holder, "refund_holder", 5000, by=finance, reason="bank diff")
    card = services.card_issue_formal(actor=staff, holder=holder, fee_payment="purse")
    purse = purse_of(card)
    assert purse.account.balance == 2000
    assert purse.card_balance == purse.account.balance
    assert balance("card_fee") == 3000


def test_batch_fee_30_yuan_per_card_in_one_journal_R_FEE_2_R_FEE_4(staff):
    unit = UnitFactory()
    batch = services.card_batch_issue(actor=staff, unit=unit, card_type=CardType.ORDINARY, rows=_rows(4))
    assert batch.rows == 4 and batch.fee_total == 12000
    journal = Journal.objects.get(source=f"batch-fee:{batch.pk}")
    assert sorted(journal.postings.values_list("account__kind", "amount")) == [("bank", 12000), ("card_fee", -12000)]
    assert balance("card_fee") == 12000
    batch2 = services.card_batch_issue(actor=staff, unit=unit, card_type=CardType.CONSUMPTION, quantity=2,
                                       fee_payment="cash")
    assert batch2.fee_total == 6000 and balance("card_fee") == 18000
    assert services.cash_account_for(staff).balance == 6000


def test_fees_follow_the_schedule_by_effective_date_R_FEE_2(staff, superuser):
    """A later FeeSchedule row applies from its date (in the business time zone), not before."""
    FeeSchedule.objects.create(kind=FeeSchedule.Kind.NEW_CARD, amount=3500, effective_from=dt.date(2027, 1, 1))
    unit = UnitFactory()
    # 23:30 on 31 December in Shanghai (15:30 UTC): the old fee.
    with time_machine.travel(at(2026, 12, 31, 23, 30), tick=False):
        assert services.fee_amount(FeeSchedule.Kind.NEW_CARD) == 3000
        b1 = services.card_batch_issue(actor=staff, unit=unit, card_type=CardType.CONSUMPTION, quantity=2)
    # 00:30 on 1 January in Shanghai (still 31 December in UTC): the new fee.
    with time_machine.travel(at(2027, 1, 1, 0, 30), tick=False):
        assert services.fee_amount(FeeSchedule.Kind.NEW_CARD) == 3500
        b2 = services.card_batch_issue(actor=staff, unit=unit, card_type=CardType.CONSUMPTION, quantity=2)
        # Reopened formal holders pay the schedule's new-card fee too (R-CLOSE-4).
        holder = formal_card(staff).holder
        services.account_close(actor=superuser, holder=holder, reason="left")
        services.holder_reopen(actor=staff, holder=holder, reason="back")
        services.card_issue_formal(actor=staff, holder=holder)
    assert (b1.fee_total, b2.fee_total) == (6000, 7000)
    assert balance("card_fee") == 6000 + 7000 + 3500
    # A past date still gets the fee in force then.
    assert services.fee_amount(FeeSchedule.Kind.NEW_CARD, dt.date(2026, 6, 1)) == 3000


def test_replacement_fee_follows_the_schedule_R_FEE_3(staff):
    FeeSchedule.objects.create(kind=FeeSchedule.Kind.REPLACEMENT, amount=2000, effective_from=dt.date(2027, 3, 1))
    card = formal_card(staff)
    with time_machine.travel(at(2027, 2, 28), tick=False):
        card = services.card_replace(card=card, actor=staff, reason="damaged")
    with time_machine.travel(at(2027, 3, 1), tick=False):
        services.card_replace(card=card, actor=staff, reason="damaged")
    assert balance("card_fee") == 3000 + 2000


def test_a_zero_fee_posts_no_journal_R_FEE_2(staff):
    FeeSchedule.objects.create(kind=FeeSchedule.Kind.NEW_CARD, amount=0, effective_from=dt.date(2001, 1, 1))
    with time_machine.travel(at(2026, 5, 1), tick=False):
        batch = services.card_batch_issue(actor=staff, unit=UnitFactory(), card_type=CardType.CONSUMPTION, quantity=1)
    assert batch.fee_total == 0 and not Journal.objects.filter(kind="card_fee").exists()


def test_no_fee_in_force_refuses_the_issue_and_changes_nothing_R_FEE_2(staff):
    before = snapshot()
    with time_machine.travel(at(1999, 12, 31), tick=False):
        with pytest.raises(BusinessError, match="No fee is in force on 1999-12-31"):
            services.card_batch_issue(actor=staff, unit=UnitFactory(code="U-NOFEE"), card_type=CardType.CONSUMPTION,
                                      quantity=1)
    after = snapshot()
    assert after == before


def test_fee_paid_from_the_purse_cannot_overdraw_it_R_FEE_3(staff):
    holder = HolderFactory()
    card = services.card_issue_formal(actor=staff, holder=holder)
    fund(card, 100, staff)
    before = snapshot()
    with pytest.raises(BusinessError, match="Insufficient balance"):
        services.card_replace(card=card, actor=staff, reason="lost", fee_payment="purse")
    assert snapshot() == before
