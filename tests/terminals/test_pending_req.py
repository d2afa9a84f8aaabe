"""0x40 PENDING_REQ answered by the host (POS-PROTOCOL.md): one statement in the usual case, the
same answers as the four ORM queries it replaced. Subsidy claims: test_subsidy_claim.py."""

import pytest

from accounts import services as acc
from accounts.models import Purse
from merchants.models import MerchantKind
from terminals.host import pending_for

pytestmark = pytest.mark.django_db


def answer(reply):
    return reply.card_no, reply.result, reply.pending


def test_a_topup_point_gets_the_pending_credit_of_an_active_card(make_terminal, funded_card):
    topup, _ = make_terminal(MerchantKind.TOPUP)
    card = funded_card(10_000)
    Purse.objects.filter(pk=card.purse_id).update(pending=1234)
    assert answer(pending_for(topup.pk, card.card_no)) == (card.card_no, 0, 1234)
    Purse.objects.filter(pk=card.purse_id).update(pending=0)
    assert answer(pending_for(topup.pk, card.card_no)) == (card.card_no, 0, 0)


def test_only_topup_points_may_ask(make_terminal, funded_card):
    card = funded_card(10_000)
    for kind in (MerchantKind.DINING, MerchantKind.RETAIL):
        terminal, _ = make_terminal(kind)
        assert answer(pending_for(terminal.pk, card.card_no)) == (card.card_no, 5, 0)


def test_unknown_and_blocked_cards(make_terminal, funded_card, admin_user):
    topup, _ = make_terminal(MerchantKind.TOPUP)
    assert answer(pending_for(topup.pk, 99_999_999)) == (99_999_999, 6, 0)
    card = funded_card(10_000)
    Purse.objects.filter(pk=card.purse_id).update(pending=500)
    acc.card_report_loss(card=card, actor=admin_user, reason="test")
    assert answer(pending_for(topup.pk, card.card_no)) == (card.card_no, 4, 0)
