"""Account adjustments when the bank's records and the card system's disagree (R-ADJ-1): the
difference waits in suspense; each of the four adjustments clears it one way."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts import services
from accounts.errors import BusinessError, NotAllowed
from accounts.models import AuditLog, Purse
from accounts.services import Adjustment
from tests.accounts.helpers import (
    balance,
    fast_password_hashing,  # noqa: F401
    formal_card,
    fund,
    purse_of,
    snapshot,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def card(staff):
    card = formal_card(staff)
    fund(card, 10000, staff)
    return card


def _postings(journal):
    return sorted(journal.postings.values_list("account__kind", "amount"))


def test_four_adjustment_kinds_R_ADJ_1():
    assert [k for k, _ in Adjustment.CHOICES] == [
        "debit_bank_card", "debit_campus_card", "holder_pays_in", "refund_holder"]


def test_debit_the_bank_card_R_ADJ_1(finance, card):
    journal = services.account_adjust(actor=finance, holder=card.holder, kind=Adjustment.DEBIT_BANK_CARD,
                                      amount=700, reason="bank short")
    assert _postings(journal) == [("bank", 700), ("suspense", -700)]
    assert purse_of(card).account.balance == 10000 and purse_of(card).pending == 0
    assert balance("bank") == 700 and balance("suspense") == -700


def test_debit_the_campus_card_R_ADJ_1(finance, card):
    journal = services.account_adjust(actor=finance, holder=card.holder, kind=Adjustment.DEBIT_CAMPUS_CARD,
                                      amount=700, reason="double top-up")
    assert _postings(journal) == [("purse", 700), ("suspense", -700)]
    purse = purse_of(card)
    assert purse.account.balance == 9300
    assert purse.pending == -700  # taken from the card at its next top-up
    assert balance("suspense") == -700


def test_holder_pays_in_R_ADJ_1(finance, card):
    journal = services.account_adjust(actor=finance, holder=card.holder, kind=Adjustment.HOLDER_PAYS_IN,
                                      amount=700, reason="pays the difference")
    assert _postings(journal) == [("cash", 700), ("suspense", -700)]
    assert services.cash_account_for(finance).balance == 700
    assert purse_of(card).account.balance == 10000


def test_refund_the_holder_is_pending_credit_R_ADJ_1(finance, card):
    journal = services.account_adjust(actor=finance, holder=card.holder, kind=Adjustment.REFUND_HOLDER,
                                      amount=700, reason="bank took twice")
    assert _postings(journal) == [("purse", -700), ("suspense", 700)]
    purse = purse_of(card)
    assert purse.account.balance == 10700 and purse.pending == 700
    assert purse.card_balance == 10000  # the card gets it at a top-up terminal
    assert balance("suspense") == 700
    services.account_adjust(actor=finance, holder=card.holder, kind=Adjustment.REFUND_HOLDER, amount=300, reason="more")
    assert purse_of(card).pending == 1000


def test_adjustment_journal_and_audit_R_ADJ_1(finance, card):
    journal = services.account_adjust(actor=finance, holder=card.holder, kind=Adjustment.REFUND_HOLDER,
                                      amount=250, reason="bank diff 2026-03")
    assert journal.kind == "adjustment" and journal.actor == finance
    assert journal.reason == "refund_holder: bank diff 2026-03"
    entry = AuditLog.objects.get(action="account_adjust", journal=journal)
    assert entry.actor == finance and entry.holder == card.holder and entry.reason == "bank diff 2026-03"
    assert entry.data == {"kind": "refund_holder", "amount": 250}


@pytest.mark.parametrize("amount", [0, -1, -500, "abc", "", None, "1.5", 1.5, 12.7, Decimal("2.5"), "-3", True])
def test_amount_must_be_a_positive_whole_number_of_fen_R_ADJ_1(finance, card, amount):
    before = snapshot()
    with pytest.raises(BusinessError, match="amount"):
        services.account_adjust(actor=finance, holder=card.holder, kind=Adjustment.REFUND_HOLDER,
                                amount=amount, reason="x")
    assert snapshot() == before


@pytest.mark.parametrize("amount, fen", [(5, 5), ("12", 12), (" 30 ", 30), (Decimal("40"), 40), (50.0, 50)])
def test_whole_amounts_in_any_numeric_form_are_accepted_R_ADJ_1(finance, card, amount, fen):
    journal = services.account_adjust(actor=finance, holder=card.holder, kind=Adjustment.REFUND_HOLDER,
                                      amount=amount, reason="x")
    assert journal.postings.get(account__kind="suspense").amount == fen


def test_debit_of_the_campus_card_beyond_its_balance_is_refused_R_ADJ_1(finance, card):
    before = snapshot()
    with pytest.raises(BusinessError, match="holds only 10000 fen"):
        services.account_adjust(actor=finance, holder=card.holder, kind=Adjustment.DEBIT_CAMPUS_CARD,
                                amount=10001, reason="x")
    assert snapshot() == before
    services.account_adjust(actor=finance, holder=card.holder, kind=Adjustment.DEBIT_CAMPUS_CARD, amount=10000,
                            reason="all of it")
    assert purse_of(card).account.balance == 0


def test_unknown_kind_and_missing_reason_are_refused_R_ADJ_1(finance, card):
    before = snapshot()
    with pytest.raises(BusinessError, match="Unknown adjustment"):
        services.account_adjust(actor=finance, holder=card.holder, kind="forgive", amount=100, reason="x")
    with pytest.raises(BusinessError, match="reason"):
        services.account_adjust(actor=finance, holder=card.holder, kind=Adjustment.REFUND_HOLDER, amount=100, reason="")
    assert snapshot() == before


def test_adjust_without_permission_is_not_allowed_R_ADJ_1(staff, make_user, card):
    cash_operator = make_user("cashier1", "cash_operator")
    before = snapshot()
    for actor in (None, staff, cash_operator):
        with pytest.raises(NotAllowed):
            services.account_adjust(actor=actor, holder=card.holder, kind=Adjustment.REFUND_HOLDER,
                                    amount=100, reason="x")
    assert snapshot() == before
    assert Purse.objects.get(pk=card.purse_id).pending == 0
