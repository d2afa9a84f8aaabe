"""Account closure at finance (R-CLOSE-1, R-CLOSE-3, R-CLOSE-4): subsystem functions off first,
the balance paid out, the cards closed and blocked, the holder closed."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.errors import BusinessError, NotAllowed
from accounts.models import AuditLog, BlockListEntry, Card, Cardholder, CardStatus, CardType
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
from tests.factories import HolderFactory

pytestmark = pytest.mark.django_db


def test_closure_refused_while_subsystem_functions_are_on_R_CLOSE_1(staff, finance):
    card = formal_card(staff)
    fund(card, 8000, staff)
    services.card_functions_set(card=card, actor=staff, functions=["library", "access"], reason="subsystem")
    before = snapshot()
    with pytest.raises(BusinessError, match=r"access, library switched on.*R-CLOSE-1"):
        services.account_close(actor=finance, holder=card.holder, reason="graduated")
    assert snapshot() == before
    # The library closes its function; then finance closes the account.
    services.card_functions_set(card=card, actor=staff, functions=[], reason="library account closed")
    journal = services.account_close(actor=finance, holder=card.holder, reason="graduated")

    assert sorted(journal.postings.values_list("account__kind", "amount")) == [("bank", -8000), ("purse", 8000)]
    assert journal.kind == "payout" and journal.actor == finance
    assert purse_of(card).account.balance == 0 and purse_of(card).pending == 0
    assert balance("bank") == -8000  # paid out through bank clearing to the holder's bank card
    holder = Cardholder.objects.get(pk=card.holder_id)
    assert holder.status == Cardholder.Status.CLOSED and holder.closed_at is not None
    card.refresh_from_db()
    assert card.status == CardStatus.CLOSED
    assert BlockListEntry.objects.filter(card_no=card.card_no).values_list("op", "reason").last() == (1, "closed")
    entry = AuditLog.objects.get(action="account_close", holder=holder)
    assert entry.actor == finance and entry.reason == "graduated" and entry.journal == journal
    assert entry.data == {"payout": "bank", "amount": 8000}


def test_closed_holder_cannot_get_a_new_card_without_reopen_R_CLOSE_1_R_CLOSE_4(staff, finance):
    card = formal_card(staff)
    holder = card.holder
    services.account_close(actor=finance, holder=holder, reason="left")
    before = snapshot()
    with pytest.raises(BusinessError, match="R-CLOSE-4"):
        services.card_issue_formal(actor=staff, holder=holder)
    with pytest.raises(BusinessError, match="cannot become"):
        services.card_report_loss(card=card, channel="kiosk")  # a closed card never works again
    with pytest.raises(BusinessError, match="closed account"):
        services.adjustment_request(actor=finance, holder=holder, kind="refund_holder", amount=100, reason="x")
    with pytest.raises(BusinessError, match="already closed"):
        services.account_close(actor=finance, holder=holder, reason="again")
    assert snapshot() == before
    # Reopen needs a reason and the issuing permission.
    with pytest.raises(BusinessError, match="reason"):
        services.holder_reopen(actor=staff, holder=holder, reason="")
    with pytest.raises(NotAllowed):
        services.holder_reopen(actor=finance, holder=holder, reason="back")
    services.holder_reopen(actor=staff, holder=holder, reason="back")
    assert services.card_issue_formal(actor=staff, holder=holder).status == CardStatus.ACTIVE
    with pytest.raises(BusinessError, match="not closed"):
        services.holder_reopen(actor=staff, holder=holder, reason="again")


def test_closure_pays_out_in_cash_R_CLOSE_1(staff, finance):
    card = formal_card(staff)
    fund(card, 1234, staff)
    services.account_close(actor=finance, holder=card.holder, payout="cash", reason="dropped out")
    assert services.cash_account_for(finance).balance == -1234
    assert purse_of(card).account.balance == 0


def test_closure_closes_every_live_card_of_the_holder_R_CLOSE_1(staff, finance):
    card = formal_card(staff)
    services.card_report_loss(card=card, channel="kiosk")
    new = services.card_replace(card=card, actor=staff, reason="lost")
    services.account_close(actor=finance, holder=card.holder, reason="left")
    assert Card.objects.get(pk=card.pk).status == CardStatus.REPLACED  # already dead: untouched
    assert Card.objects.get(pk=new.pk).status == CardStatus.CLOSED


def test_closure_with_payout_to_bank_needs_a_bank_card_on_file_R_CLOSE_1(staff, finance):
    card = formal_card(staff, bank_card_no="")
    fund(card, 500, staff)
    before = snapshot()
    with pytest.raises(BusinessError, match="no bank card on file"):
        services.account_close(actor=finance, holder=card.holder, payout="bank", reason="left")
    assert snapshot() == before
    # In cash it is fine; and with nothing to pay, no bank card is needed.
    services.account_close(actor=finance, holder=card.holder, payout="cash", reason="left")
    empty = formal_card(staff, bank_card_no="")
    assert services.account_close(actor=finance, holder=empty.holder, payout="bank", reason="left") is None
    assert Cardholder.objects.get(pk=empty.holder_id).status == Cardholder.Status.CLOSED


def test_closure_needs_finance_a_reason_and_a_known_payout_R_CLOSE_1(staff, finance):
    card = formal_card(staff)
    before = snapshot()
    with pytest.raises(NotAllowed):
        services.account_close(actor=staff, holder=card.holder, reason="left")
    with pytest.raises(BusinessError, match="reason"):
        services.account_close(actor=finance, holder=card.holder, reason="")
    with pytest.raises(BusinessError, match="Unknown payout"):
        services.account_close(actor=finance, holder=card.holder, payout="cheque", reason="left")
    with pytest.raises(BusinessError, match="either"):
        services.account_close(actor=finance, reason="left")
    assert snapshot() == before


def test_ordinary_holder_settles_and_closes_R_CLOSE_3(staff, finance):
    card = ordinary_card(staff)
    fund(card, 700, staff)
    services.card_report_loss(card=card, channel="kiosk")
    journal = services.account_close(actor=finance, holder=card.holder, payout="cash", reason="contract ended")
    assert journal.postings.get(account__kind="purse").amount == 700
    assert Card.objects.get(pk=card.pk).status == CardStatus.CLOSED
    # A real-name card is not closed on its own.
    other = ordinary_card(staff, number="C0009")
    with pytest.raises(BusinessError, match="closed with its holder's account"):
        services.account_close(actor=finance, card=other, payout="cash", reason="x")


def test_consumption_card_closure_pays_out_its_purse_R_CLOSE_3(staff, finance):
    card = consumption_card(staff)
    fund(card, 2500, staff)
    before = snapshot()
    with pytest.raises(BusinessError, match="no bank card"):
        services.account_close(actor=finance, card=card, payout="bank", reason="visit over")
    assert snapshot() == before
    journal = services.account_close(actor=finance, card=card, payout="cash", reason="visit over")
    assert sorted(journal.postings.values_list("account__kind", "amount")) == [("cash", -2500), ("purse", 2500)]
    card.refresh_from_db()
    assert card.status == CardStatus.CLOSED and purse_of(card).account.balance == 0
    assert BlockListEntry.objects.filter(card_no=card.card_no, op=1, reason="closed").exists()
    entry = AuditLog.objects.get(action="account_close", card=card)
    assert entry.holder is None and entry.data == {"payout": "cash", "amount": 2500}
    with pytest.raises(BusinessError, match="already"):
        services.account_close(actor=finance, card=card, payout="cash", reason="again")


def test_expired_consumption_card_with_nothing_left_closes_without_a_journal_R_CLOSE_3(staff, finance):
    card = consumption_card(staff)
    Card.objects.filter(pk=card.pk).update(status=CardStatus.EXPIRED)
    assert services.account_close(actor=finance, card=card, payout="bank", reason="expired") is None
    assert Card.objects.get(pk=card.pk).status == CardStatus.CLOSED


def test_holder_without_cards_can_be_closed_and_reopened_R_CLOSE_4(staff, finance):
    holder = HolderFactory()
    services.account_close(actor=finance, holder=holder, reason="never collected")
    services.holder_reopen(actor=staff, holder=holder, reason="collects now")
    # Never had a formal card: the first is still free (R-FEE-1).
    card = services.card_issue_formal(actor=staff, holder=holder)
    assert AuditLog.objects.get(action="card_issue", card=card).data["fee"] == 0
    assert card.card_type == CardType.FORMAL


def test_graduating_cohort_is_paid_to_each_bank_card_and_closed_R_CLOSE_2(staff, finance):
    """There is no cohort service: finance closes each graduate's account with a bank payout;
    every balance goes through bank clearing and every card is closed and blocked."""
    cohort = [formal_card(staff, bank_card_no=f"62220200000000{i:05d}") for i in range(3)]
    for i, card in enumerate(cohort):
        fund(card, 1000 * (i + 1), staff)
    for card in cohort:
        services.account_close(actor=finance, holder=card.holder, payout="bank", reason="本科毕业 2029 届")
    assert balance("bank") == -6000
    assert all(Card.objects.get(pk=c.pk).status == CardStatus.CLOSED for c in cohort)
    assert all(Cardholder.objects.get(pk=c.holder_id).status == "closed" for c in cohort)
    assert BlockListEntry.objects.filter(card_no__in=[c.card_no for c in cohort], op=1, reason="closed").count() == 3
