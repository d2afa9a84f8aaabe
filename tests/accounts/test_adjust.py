"""Account adjustments when the bank's records and the card system's disagree (R-ADJ-1): the
difference waits in suspense; each of the four adjustments clears it one way. Each is asked for by
one person and posted when another approves (tests/controls/test_adjustments.py tries the bypasses)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts import services
from accounts.errors import BusinessError, NotAllowed
from accounts.models import AuditLog, Purse
from accounts.services import Adjustment
from tests.accounts.helpers import (
    adjust,
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


def posted(finance, card, kind, amount, reason="x"):
    return adjust(card.holder, kind, amount, by=finance, reason=reason).journal


def _postings(journal):
    return sorted(journal.postings.values_list("account__kind", "amount"))


def test_four_adjustment_kinds_R_ADJ_1():
    assert [k for k, _ in Adjustment.CHOICES] == [
        "debit_bank_card", "debit_campus_card", "holder_pays_in", "refund_holder"]


def test_debit_the_bank_card_R_ADJ_1(finance, card):
    journal = posted(finance, card, Adjustment.DEBIT_BANK_CARD, 700, "bank short")
    assert _postings(journal) == [("bank", 700), ("suspense", -700)]
    assert purse_of(card).account.balance == 10000 and purse_of(card).pending == 0
    assert balance("bank") == 700 and balance("suspense") == -700


def test_debit_the_campus_card_R_ADJ_1(finance, card):
    journal = posted(finance, card, Adjustment.DEBIT_CAMPUS_CARD, 700, "double top-up")
    assert _postings(journal) == [("purse", 700), ("suspense", -700)]
    purse = purse_of(card)
    assert purse.account.balance == 9300
    assert purse.pending == -700  # taken from the card at its next top-up
    assert balance("suspense") == -700


def test_holder_pays_in_R_ADJ_1(finance, card):
    journal = posted(finance, card, Adjustment.HOLDER_PAYS_IN, 700, "pays the difference")
    assert _postings(journal) == [("cash", 700), ("suspense", -700)]
    assert services.cash_account_for(finance).balance == 700
    assert purse_of(card).account.balance == 10000


def test_refund_the_holder_is_pending_credit_R_ADJ_1(finance, card):
    journal = posted(finance, card, Adjustment.REFUND_HOLDER, 700, "bank took twice")
    assert _postings(journal) == [("purse", -700), ("suspense", 700)]
    purse = purse_of(card)
    assert purse.account.balance == 10700 and purse.pending == 700
    assert purse.card_balance == 10000  # the card gets it at a top-up terminal
    assert balance("suspense") == 700
    posted(finance, card, Adjustment.REFUND_HOLDER, 300, "more")
    assert purse_of(card).pending == 1000


def test_adjustment_journal_and_audit_R_ADJ_1(finance, card):
    journal = posted(finance, card, Adjustment.REFUND_HOLDER, 250, "bank diff 2026-03")
    checker = journal.actor
    assert journal.kind == "adjustment" and checker != finance  # posted by whoever approved
    assert journal.reason.startswith("refund_holder: bank diff 2026-03 (request #")
    entry = AuditLog.objects.get(action="account_adjust", journal=journal)
    assert entry.actor == checker and entry.holder == card.holder and entry.reason == "bank diff 2026-03"
    assert entry.data["kind"] == "refund_holder" and entry.data["amount"] == 250
    assert entry.data["requested_by"] == finance.pk
    assert AuditLog.objects.filter(action="adjustment_request", actor=finance).exists()


@pytest.mark.parametrize("amount", [0, -1, -500, "abc", "", None, "1.5", 1.5, 12.7, Decimal("2.5"), "-3", True])
def test_amount_must_be_a_positive_whole_number_of_fen_R_ADJ_1(finance, card, amount):
    before = snapshot()
    with pytest.raises(BusinessError, match="amount"):
        posted(finance, card, Adjustment.REFUND_HOLDER, amount, "x")
    assert snapshot() == before


@pytest.mark.parametrize("amount, fen", [(5, 5), ("12", 12), (" 30 ", 30), (Decimal("40"), 40), (50.0, 50)])
def test_whole_amounts_in_any_numeric_form_are_accepted_R_ADJ_1(finance, card, amount, fen):
    journal = posted(finance, card, Adjustment.REFUND_HOLDER, amount, "x")
    assert journal.postings.get(account__kind="suspense").amount == fen


def test_debit_of_the_campus_card_beyond_its_balance_is_refused_R_ADJ_1(finance, card):
    before = snapshot()
    with pytest.raises(BusinessError, match="holds only 10000 fen"):
        posted(finance, card, Adjustment.DEBIT_CAMPUS_CARD, 10001, "x")
    assert snapshot() == before
    posted(finance, card, Adjustment.DEBIT_CAMPUS_CARD, 10000, "all of it")
    assert purse_of(card).account.balance == 0


def test_unknown_kind_and_missing_reason_are_refused_R_ADJ_1(finance, card):
    before = snapshot()
    with pytest.raises(BusinessError, match="Unknown adjustment"):
        posted(finance, card, "forgive", 100, "x")
    with pytest.raises(BusinessError, match="reason"):
        posted(finance, card, Adjustment.REFUND_HOLDER, 100, "")
    assert snapshot() == before


def test_adjust_without_permission_is_not_allowed_R_ADJ_1(staff, make_user, card):
    cash_operator = make_user("cashier1", "cash_operator")
    before = snapshot()
    for actor in (None, staff, cash_operator):
        with pytest.raises(NotAllowed):
            services.adjustment_request(actor=actor, holder=card.holder, kind=Adjustment.REFUND_HOLDER,
                                        amount=100, reason="x")
    assert snapshot() == before
    assert Purse.objects.get(pk=card.purse_id).pending == 0
