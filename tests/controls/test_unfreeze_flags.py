"""R-FREEZE-1: a card frozen for a card-vs-account difference (卡库不平) is unfrozen only after the
difference is resolved. Before, staff could unfreeze it with its flags still open.

The flags live in terminals, which accounts may not import: card_unfreeze sends
accounts.signals.card_unfreeze_validate and terminals.receivers refuses while a flag is open."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.errors import BusinessError
from accounts.models import Card
from merchants.models import MerchantKind
from terminals.models import CardFlag
from tests.terminals.helpers import Till

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen_by_posting(make_terminal, funded_card, rates):
    """A card whose terminal says 90.00 yuan while the account holds 100.00: posting flags and freezes it."""
    till = Till(make_terminal(MerchantKind.RETAIL)[0])
    card = till.card(funded_card(10000), balance=9000)
    till.send([till.purchase(card, 100)])
    card.refresh_from_db()
    assert card.status == "frozen" and CardFlag.objects.filter(card_no=card.card_no, resolved_at__isnull=True).exists()
    return card


def test_r_freeze_1_unfreeze_is_refused_while_a_flag_is_open_in_the_admin(client, staff, frozen_by_posting):
    card = frozen_by_posting
    client.force_login(staff)
    url = f"/admin/accounts/card/{card.pk}/unfreeze/"
    resp = client.post(url, {"reason": "ID seen"}, follow=True)
    assert resp.status_code == 200
    assert "R-FREEZE-1" in " ".join(str(m) for m in resp.context["messages"])
    assert Card.objects.get(pk=card.pk).status == "frozen"

    # Staff resolve the flag in the terminals admin (with a reason), then the unfreeze goes through.
    flag = CardFlag.objects.get(card_no=card.card_no)
    client.post("/admin/terminals/cardflag/", {"action": "resolve", "_selected_action": [flag.pk], "confirm": "1",
                                              "reason": "terminal re-read the card; account is right"})
    assert CardFlag.objects.get(pk=flag.pk).resolved_at is not None
    client.post(url, {"reason": "ID seen, difference resolved"})
    assert Card.objects.get(pk=card.pk).status == "active"


def test_r_freeze_1_no_role_unfreezes_past_an_open_flag(superuser, frozen_by_posting):
    with pytest.raises(BusinessError, match="R-FREEZE-1"):
        services.card_unfreeze(card=frozen_by_posting, actor=superuser, reason="I am root")
    assert Card.objects.get(pk=frozen_by_posting.pk).status == "frozen"


def test_r_freeze_1_a_card_frozen_by_hand_without_flags_unfreezes(staff, funded_card):
    card = services.card_freeze(card=funded_card(100), actor=staff, reason="卡库不平, checked by phone")
    assert services.card_unfreeze(card=card, actor=staff, reason="ID seen").status == "active"
