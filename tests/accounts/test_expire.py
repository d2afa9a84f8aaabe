"""The daily expiry run (R-CARD-9, R-TERM-3): active cards past their validity become expired
and are blocked on every terminal; running it again changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from accounts import services
from accounts.models import AuditLog, BlockListEntry, Card, CardStatus
from tests.accounts.helpers import (
    at,
    consumption_card,
    fast_password_hashing,  # noqa: F401
    formal_card,
    ordinary_card,
)

pytestmark = pytest.mark.django_db


def _set_validity(card, day):
    Card.objects.filter(pk=card.pk).update(valid_until=day)


def test_cards_past_validity_are_expired_and_blocked_R_CARD_9_R_TERM_3(staff):
    with time_machine.travel(at(2026, 3, 15), tick=False):
        formal, ordinary, consumption = formal_card(staff), ordinary_card(staff), consumption_card(staff)
        today_card, future = formal_card(staff), formal_card(staff)
    _set_validity(formal, dt.date(2026, 3, 31))
    _set_validity(ordinary, dt.date(2026, 4, 1))
    _set_validity(consumption, dt.date(2026, 3, 20))
    _set_validity(today_card, dt.date(2026, 4, 2))
    with time_machine.travel(at(2026, 4, 2, 0, 5), tick=False):  # just after midnight in Shanghai
        assert services.cards_expire() == 3
    statuses = {c.pk: Card.objects.get(pk=c.pk).status for c in (formal, ordinary, consumption, today_card, future)}
    assert statuses == {formal.pk: "expired", ordinary.pk: "expired", consumption.pk: "expired",
                        today_card.pk: "active", future.pk: "active"}  # valid through its last day
    entries = list(BlockListEntry.objects.order_by("version").values_list("card_no", "op", "reason"))
    assert sorted(entries) == sorted((c.card_no, 1, "expired") for c in (formal, ordinary, consumption))
    entry = AuditLog.objects.get(action="card_expire", card=formal)
    assert entry.actor is None and entry.channel == "system" and entry.reason == "valid until 2026-03-31"


def test_expiry_is_idempotent_R_CARD_9(staff):
    card = formal_card(staff)
    _set_validity(card, dt.date(2020, 1, 1))
    assert services.cards_expire() == 1
    counts = (BlockListEntry.objects.count(), AuditLog.objects.count())
    assert services.cards_expire() == 0
    assert services.cards_expire() == 0
    assert (BlockListEntry.objects.count(), AuditLog.objects.count()) == counts
    assert BlockListEntry.objects.filter(card_no=card.card_no).count() == 1


def test_expiry_on_a_given_day_R_CARD_9(staff):
    card = formal_card(staff)
    assert services.cards_expire(today=card.valid_until) == 0
    assert services.cards_expire(today=card.valid_until + dt.timedelta(days=1)) == 1
    assert Card.objects.get(pk=card.pk).status == CardStatus.EXPIRED


def test_only_active_cards_are_expired_R_CARD_9(staff, finance):
    lost = services.card_report_loss(card=formal_card(staff), channel="kiosk")
    frozen = services.card_freeze(card=formal_card(staff), actor=staff, reason="卡库不平")
    closed = formal_card(staff)
    services.account_close(actor=finance, holder=closed.holder, reason="left")
    for c in (lost, frozen, closed):
        _set_validity(c, dt.date(2020, 1, 1))
    before = BlockListEntry.objects.count()
    assert services.cards_expire() == 0  # already blocked: no change, no entry
    assert BlockListEntry.objects.count() == before
    assert [Card.objects.get(pk=c.pk).status for c in (lost, frozen, closed)] == ["lost", "frozen", "closed"]


def test_an_expired_card_is_not_reported_again_but_can_be_extended_R_CARD_9(staff):
    card = formal_card(staff)
    _set_validity(card, dt.date(2020, 1, 1))
    services.cards_expire()
    services.card_extend(card=card, actor=staff, reason="in person", proof_end_date=dt.date(2030, 6, 30))
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE and card.valid_until == dt.date(2030, 7, 31)
    assert services.cards_expire() == 0
    ops = list(BlockListEntry.objects.filter(card_no=card.card_no).order_by("version").values_list("op", flat=True))
    assert ops == [1, 0]
