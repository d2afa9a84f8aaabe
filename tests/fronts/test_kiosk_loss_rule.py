"""The kiosk offers "report loss" exactly where the card services allow it (R-LOSS-1,
CARD_ACTIONS["report_loss"]); the kiosk keeps only its own wording of why not."""

from __future__ import annotations

import pytest
from django.utils import translation

from accounts.errors import BusinessError
from accounts.kiosk import services as kiosk
from accounts.models import Card, CardStatus, CardType
from accounts.services import card_action_applies
from tests.accounts.helpers import consumption_card


@pytest.mark.parametrize("status", list(CardStatus))
@pytest.mark.parametrize("card_type", list(CardType))
def test_r_loss_1_kiosk_follows_the_card_services_rule(card_type, status):
    card = Card(card_type=card_type, status=status)
    why = kiosk.kiosk_loss_reason(card)
    assert (why is None) == card_action_applies(card, "report_loss")
    if card_type == CardType.CONSUMPTION:
        assert why == "consumption"
    elif status in ("active", "expired"):
        assert why is None
    else:
        assert why == {"lost": "already_lost", "frozen": "frozen"}.get(status, "not_live")


@pytest.mark.django_db
def test_r_loss_1_kiosk_refusal_of_a_consumption_card_is_translated(staff):
    """The kiosk service's own refusal reads like the card service's, in the active language."""
    card = consumption_card(staff)
    for lang, text in (("zh-hans", "消费卡不记名，不能挂失（R-LOSS-1）。"),
                       ("en", "A consumption card is anonymous and cannot be reported lost (R-LOSS-1).")):
        with translation.override(lang), pytest.raises(BusinessError) as exc:
            kiosk.kiosk_loss_report(holder=card.holder, card_no=card.card_no)
        assert exc.value.messages == [text]
