"""Loss reports and their reversal (R-LOSS-1, R-LOSS-2), freezing and unfreezing (R-FREEZE-1).
Every one of these reaches the terminals' block list (R-TERM-3)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from accounts import services
from accounts.errors import BusinessError, NotAllowed
from accounts.models import AuditLog, BlockListEntry, Card, CardStatus
from tests.accounts.helpers import (
    at,
    consumption_card,
    fast_password_hashing,  # noqa: F401
    formal_card,
    ordinary_card,
    snapshot,
)

pytestmark = pytest.mark.django_db


def _last_block(card):
    return BlockListEntry.objects.filter(card_no=card.card_no).order_by("-version").values_list("op", "reason").first()


# --- R-LOSS-1 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["formal", "ordinary"])
def test_kiosk_reports_formal_and_ordinary_cards_lost_without_staff_R_LOSS_1(staff, kind):
    card = formal_card(staff) if kind == "formal" else ordinary_card(staff)
    card = services.card_report_loss(card=card, channel="kiosk")
    assert card.status == CardStatus.LOST
    assert _last_block(card) == (1, "lost")  # blocked on every terminal from the report on
    entry = AuditLog.objects.get(action="card_report_loss", card=card)
    assert entry.actor is None and entry.channel == "kiosk" and entry.reason == "reported lost"
    assert entry.data == {"old": "active", "new": "lost"}


def test_staff_report_loss_records_actor_and_reason_R_LOSS_1(staff):
    card = services.card_report_loss(card=formal_card(staff), actor=staff, reason="phoned the centre")
    entry = AuditLog.objects.get(action="card_report_loss", card=card)
    assert entry.actor == staff and entry.channel == "staff" and entry.reason == "phoned the centre"


def test_consumption_card_cannot_be_reported_lost_R_LOSS_1(staff):
    card = consumption_card(staff)
    before = snapshot()
    for kwargs in ({"channel": "kiosk"}, {"actor": staff}):
        with pytest.raises(BusinessError, match=r"consumption card is anonymous and cannot be reported lost \(R-LOSS-1\)"):
            services.card_report_loss(card=card, **kwargs)
    assert snapshot() == before


def test_report_loss_twice_or_on_a_dead_card_is_refused_R_LOSS_1(staff):
    card = services.card_report_loss(card=formal_card(staff), channel="kiosk")
    before = snapshot()
    with pytest.raises(BusinessError, match="already reported lost"):
        services.card_report_loss(card=card, channel="kiosk")
    new = services.card_replace(card=card, actor=staff, reason="lost")
    with pytest.raises(BusinessError, match="cannot become"):
        services.card_report_loss(card=card, channel="kiosk")
    assert new.status == CardStatus.ACTIVE
    assert snapshot()["blocklist"] == before["blocklist"] + 1  # only the replacement's


def test_an_expired_card_can_still_be_reported_lost_R_LOSS_1(staff):
    card = formal_card(staff)
    Card.objects.filter(pk=card.pk).update(status=CardStatus.EXPIRED)
    assert services.card_report_loss(card=card, channel="kiosk").status == CardStatus.LOST


def test_staff_channel_needs_permission_and_unknown_channels_are_refused_R_LOSS_1(staff, finance):
    card = formal_card(staff)
    before = snapshot()
    with pytest.raises(NotAllowed):
        services.card_report_loss(card=card)  # channel staff, no actor
    with pytest.raises(NotAllowed):
        services.card_report_loss(card=card, actor=finance)
    with pytest.raises(BusinessError, match="Unknown channel"):
        services.card_report_loss(card=card, channel="sms")
    assert snapshot() == before


# --- R-LOSS-2 ---------------------------------------------------------------------------------------

def test_reverse_loss_in_person_with_staff_and_reason_R_LOSS_2(staff, finance):
    card = services.card_report_loss(card=formal_card(staff), channel="kiosk")
    before = snapshot()
    with pytest.raises(NotAllowed):
        services.card_reverse_loss(card=card, actor=None, reason="found it")  # no kiosk reversal
    with pytest.raises(NotAllowed):
        services.card_reverse_loss(card=card, actor=finance, reason="found it")
    with pytest.raises(BusinessError, match="reason is required"):
        services.card_reverse_loss(card=card, actor=staff, reason=" ")
    assert snapshot() == before
    card = services.card_reverse_loss(card=card, actor=staff, reason="found it, ID seen")
    assert card.status == CardStatus.ACTIVE  # works again
    assert _last_block(card) == (0, "active")
    entry = AuditLog.objects.get(action="card_reverse_loss", card=card)
    assert entry.actor == staff and entry.reason == "found it, ID seen"


def test_reverse_loss_of_a_card_that_is_not_lost_is_refused_R_LOSS_2(staff):
    card = formal_card(staff)
    before = snapshot()
    with pytest.raises(BusinessError, match="not reported lost"):
        services.card_reverse_loss(card=card, actor=staff, reason="x")
    assert snapshot() == before


def test_reverse_loss_after_the_validity_ended_gives_an_expired_card_R_LOSS_2_R_CARD_9(staff):
    card = services.card_report_loss(card=formal_card(staff), channel="kiosk")
    with time_machine.travel(at(card.valid_until.year, card.valid_until.month, card.valid_until.day) + dt.timedelta(days=1),
                             tick=False):
        card = services.card_reverse_loss(card=card, actor=staff, reason="found")
    assert card.status == CardStatus.EXPIRED
    assert _last_block(card) == (1, "expired")


# --- R-FREEZE-1 -------------------------------------------------------------------------------------

def test_freeze_and_unfreeze_with_reason_R_FREEZE_1(staff):
    card = formal_card(staff)
    before = snapshot()
    with pytest.raises(BusinessError, match="reason is required"):
        services.card_freeze(card=card, actor=staff, reason="")
    assert snapshot() == before
    card = services.card_freeze(card=card, actor=staff, reason="卡库不平")
    assert card.status == CardStatus.FROZEN and _last_block(card) == (1, "frozen")
    with pytest.raises(BusinessError, match="reason is required"):
        services.card_unfreeze(card=card, actor=staff, reason="")
    card = services.card_unfreeze(card=card, actor=staff, reason="difference resolved, ID seen")
    assert card.status == CardStatus.ACTIVE and _last_block(card) == (0, "active")
    actions = list(AuditLog.objects.filter(card=card).order_by("id").values_list("action", "reason"))
    assert actions[-2:] == [("card_freeze", "卡库不平"), ("card_unfreeze", "difference resolved, ID seen")]


def test_the_system_freezes_a_card_on_a_mismatch_R_FREEZE_1(staff):
    card = services.card_freeze(card=formal_card(staff), channel="system", reason="卡库不平")
    entry = AuditLog.objects.get(action="card_freeze", card=card)
    assert card.status == CardStatus.FROZEN and entry.actor is None and entry.channel == "system"


def test_unfreeze_of_a_card_that_is_not_frozen_is_refused_R_FREEZE_1(staff):
    card = formal_card(staff)
    before = snapshot()
    with pytest.raises(BusinessError, match="not frozen"):
        services.card_unfreeze(card=card, actor=staff, reason="x")
    assert snapshot() == before


def test_unfreeze_is_in_person_only_R_FREEZE_1(staff, finance):
    card = services.card_freeze(card=formal_card(staff), actor=staff, reason="卡库不平")
    with pytest.raises(NotAllowed):
        services.card_unfreeze(card=card, actor=None, reason="x")
    with pytest.raises(NotAllowed):
        services.card_unfreeze(card=card, actor=finance, reason="x")
    assert Card.objects.get(pk=card.pk).status == CardStatus.FROZEN


def test_a_cardholder_at_the_kiosk_cannot_freeze_a_card_R_FREEZE_1(staff):
    """Roles: the kiosk reports loss and queries balance, nothing else."""
    card = formal_card(staff)
    before = snapshot()
    with pytest.raises(NotAllowed):
        services.card_freeze(card=card, channel="kiosk", reason="卡库不平")
    assert snapshot() == before


def test_unfreeze_after_the_validity_ended_gives_an_expired_card_R_FREEZE_1_R_CARD_9(staff):
    """A card past its validity must stay on the block list: unfreezing it must not make it
    active (terminals only look at the status and the block list)."""
    card = services.card_freeze(card=formal_card(staff), actor=staff, reason="卡库不平")
    day_after = card.valid_until + dt.timedelta(days=1)
    with time_machine.travel(at(day_after.year, day_after.month, day_after.day), tick=False):
        assert services.cards_expire() == 0  # frozen cards are left alone by the expiry run
        card = services.card_unfreeze(card=card, actor=staff, reason="resolved")
    assert card.status == CardStatus.EXPIRED
    assert _last_block(card) == (1, "expired")


def test_a_lost_or_frozen_card_cannot_be_frozen_or_reported_again(staff):
    card = services.card_freeze(card=formal_card(staff), actor=staff, reason="卡库不平")
    with pytest.raises(BusinessError, match="cannot become"):
        services.card_freeze(card=card, actor=staff, reason="again")
    with pytest.raises(BusinessError, match="cannot become"):
        services.card_report_loss(card=card, channel="kiosk")  # unfreeze first, in person
