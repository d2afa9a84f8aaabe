"""Replacement of a lost or damaged card (R-REPLACE-1, R-REPLACE-2) and its fee (R-FEE-3, R-FEE-4)."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.errors import BusinessError, InsufficientFunds, NotAllowed
from accounts.models import AuditLog, BlockListEntry, Card, CardStatus, CardType, Journal
from tests.accounts.helpers import (
    balance,
    consumption_card,
    fast_password_hashing,  # noqa: F401
    formal_card,
    fund,
    ordinary_card,
    purse_of,
    snapshot,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("kind", ["formal", "ordinary"])
def test_replacement_same_type_new_number_same_purse_balance_carried_R_REPLACE_1(staff, kind):
    card = formal_card(staff) if kind == "formal" else ordinary_card(staff)
    fund(card, 8000, staff)
    if kind == "formal":
        services.card_functions_set(card=card, actor=staff, functions=["library"])
    services.card_report_loss(card=card, channel="kiosk")
    card_fee_before = balance("card_fee")

    new = services.card_replace(card=card, actor=staff, reason="lost on the bus", fee_payment="cash")

    old = Card.objects.get(pk=card.pk)
    assert old.status == CardStatus.REPLACED  # dead for good
    assert new.card_type == card.card_type and new.card_no != card.card_no
    assert new.holder == card.holder and new.purse_id == card.purse_id
    assert new.replaces_id == card.pk and new.status == CardStatus.ACTIVE
    assert new.valid_until == card.valid_until and new.unit_id == card.unit_id
    assert new.functions == (["library"] if kind == "formal" else [])
    purse = purse_of(new)
    assert purse.account.balance == 8000  # paid in cash: the balance carries over whole
    assert purse.card_balance == 8000 and purse.card_counter == 0 and purse.pending == 0
    # R-FEE-3 to the card-fee account (R-FEE-4), paid in cash to the staff member's drawer.
    assert balance("card_fee") - card_fee_before == 3000
    assert services.cash_account_for(staff).balance == 8000 + 3000
    # The old card is blocked; the new one is not on the list.
    assert list(BlockListEntry.objects.filter(card_no=card.card_no).values_list("op", "reason")) == [
        (1, "lost"), (1, "replaced")]
    assert not BlockListEntry.objects.filter(card_no=new.card_no).exists()
    entry = AuditLog.objects.get(action="card_replace", card=new)
    assert entry.actor == staff and entry.reason == "lost on the bus"
    assert entry.data == {"old_card": card.card_no, "fee": 3000}
    assert sorted(entry.journal.postings.values_list("account__kind", "amount")) == [("card_fee", -3000), ("cash", 3000)]


def test_replacement_fee_from_the_purse_R_REPLACE_1_R_FEE_3(staff):
    card = formal_card(staff)
    fund(card, 5000, staff)
    new = services.card_replace(card=card, actor=staff, reason="damaged", fee_payment="purse")
    purse = purse_of(new)
    assert purse.account.balance == 2000
    assert purse.card_balance == 2000  # the new card carries the balance after the fee
    journal = Journal.objects.get(kind="card_fee")
    assert sorted(journal.postings.values_list("account__kind", "amount")) == [("card_fee", -3000), ("purse", 3000)]


def test_replacement_fee_from_a_purse_that_cannot_pay_changes_nothing_R_FEE_3(staff):
    card = formal_card(staff)
    fund(card, 2999, staff)
    before = snapshot()
    with pytest.raises(InsufficientFunds):
        services.card_replace(card=card, actor=staff, reason="damaged", fee_payment="purse")
    assert snapshot() == before
    assert Card.objects.get(pk=card.pk).status == CardStatus.ACTIVE


def test_unknown_fee_payment_is_refused(staff):
    card = formal_card(staff)
    before = snapshot()
    with pytest.raises(BusinessError, match="Unknown fee payment"):
        services.card_replace(card=card, actor=staff, reason="damaged", fee_payment="voucher")
    assert snapshot() == before


def test_damaged_active_card_replaced_then_the_new_one_again(staff):
    card = formal_card(staff)
    second = services.card_replace(card=card, actor=staff, reason="damaged")
    third = services.card_replace(card=second, actor=staff, reason="lost")
    assert third.replaces == second and second.replaces == card
    assert list(card.holder.cards.filter(status__in=["active", "lost", "frozen", "expired"])) == [third]
    assert balance("card_fee") == 6000
    with pytest.raises(BusinessError, match="cannot become"):
        services.card_replace(card=card, actor=staff, reason="again")


def test_consumption_card_is_never_replaced_R_REPLACE_2(staff):
    card = consumption_card(staff)
    fund(card, 1000, staff)
    before = snapshot()
    with pytest.raises(BusinessError, match=r"never replaced.*R-REPLACE-2"):
        services.card_replace(card=card, actor=staff, reason="lost")
    assert snapshot() == before


def test_replacement_needs_permission_and_reason_R_REPLACE_1(staff, finance):
    card = formal_card(staff)
    before = snapshot()
    with pytest.raises(NotAllowed):
        services.card_replace(card=card, actor=finance, reason="lost")
    with pytest.raises(BusinessError, match="reason"):
        services.card_replace(card=card, actor=staff, reason="")
    assert snapshot() == before


def test_a_frozen_card_is_unfrozen_before_it_is_replaced_R_FREEZE_1(staff):
    card = services.card_freeze(card=formal_card(staff), actor=staff, reason="卡库不平")
    with pytest.raises(BusinessError, match="cannot become"):
        services.card_replace(card=card, actor=staff, reason="lost")


def test_card_type_is_kept_R_REPLACE_1(staff):
    new = services.card_replace(card=ordinary_card(staff), actor=staff, reason="damaged")
    assert new.card_type == CardType.ORDINARY and new.holder.category == "contract_staff"
