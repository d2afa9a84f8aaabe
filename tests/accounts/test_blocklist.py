"""The terminals' block list (R-TERM-3): every change of a card's usability appends one entry
(op 1 block, op 0 unblock) with a strictly increasing version."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts import selectors, services
from accounts.errors import BusinessError
from accounts.models import BlockListEntry, Card, CardStatus
from tests.accounts.helpers import (
    consumption_card,
    fast_password_hashing,  # noqa: F401
    formal_card,
)

pytestmark = pytest.mark.django_db


def _entries():
    return list(BlockListEntry.objects.order_by("version").values_list("version", "card_no", "op", "reason"))


def test_every_status_change_appends_one_entry_with_rising_versions_R_TERM_3(staff, finance):
    card = formal_card(staff)
    assert _entries() == []  # a new active card is not on the list
    steps = [
        (lambda c: services.card_report_loss(card=c, channel="kiosk"), 1, "lost"),
        (lambda c: services.card_reverse_loss(card=c, actor=staff, reason="found"), 0, "active"),
        (lambda c: services.card_freeze(card=c, actor=staff, reason="卡库不平"), 1, "frozen"),
        (lambda c: services.card_unfreeze(card=c, actor=staff, reason="resolved"), 0, "active"),
    ]
    for i, (step, op, reason) in enumerate(steps, start=1):
        step(card)
        entries = _entries()
        assert len(entries) == i
        assert entries[-1][1:] == (card.card_no, op, reason)
        assert Card.objects.get(pk=card.pk).status == reason
    new = services.card_replace(card=card, actor=staff, reason="damaged")
    services.account_close(actor=finance, holder=card.holder, reason="left")
    entries = _entries()
    assert [e[1:] for e in entries[-2:]] == [(card.card_no, 1, "replaced"), (new.card_no, 1, "closed")]
    versions = [e[0] for e in entries]
    assert versions == sorted(set(versions)) and len(versions) == 6  # strictly increasing


def test_selectors_give_the_list_after_a_version_R_TERM_3(staff):
    a, b = formal_card(staff), consumption_card(staff)
    services.card_report_loss(card=a, channel="kiosk")
    v = selectors.blocklist_version()
    services.card_freeze(card=b, channel="system", reason="卡库不平")
    services.card_reverse_loss(card=a, actor=staff, reason="found")
    later = selectors.blocklist_since(version=v, limit=10)
    assert [(e.card_no, e.op) for e in later] == [(b.card_no, 1), (a.card_no, 0)]
    assert selectors.blocklist_version() == later[-1].version
    assert list(selectors.blocked_card_numbers()) == [b.card_no]


def test_a_refused_change_appends_nothing_R_TERM_3(staff):
    card = formal_card(staff)
    with pytest.raises(BusinessError):
        services.card_unfreeze(card=card, actor=staff, reason="x")
    assert _entries() == []
    # A change rolled back with its transaction leaves no entry either.
    with transaction.atomic():
        services.card_report_loss(card=card, channel="kiosk")
        (rolled_back,) = _entries()
        transaction.set_rollback(True)
    assert _entries() == [] and Card.objects.get(pk=card.pk).status == CardStatus.ACTIVE
    # Versions keep rising after a rollback: a terminal's "since v" never misses an entry.
    services.card_report_loss(card=card, channel="kiosk")
    (entry,) = _entries()
    assert entry[0] > rolled_back[0]


def test_replaying_the_list_gives_the_cards_that_are_not_active_R_TERM_3(staff, finance):
    """A terminal that applies every entry in version order blocks exactly the cards that are
    not active: lost, frozen, expired, closed and replaced."""
    cards = [formal_card(staff) for _ in range(5)] + [consumption_card(staff)]
    services.card_report_loss(card=cards[0], channel="kiosk")
    services.card_freeze(card=cards[1], actor=staff, reason="卡库不平")
    services.card_replace(card=cards[2], actor=staff, reason="damaged")
    services.account_close(actor=finance, holder=cards[3].holder, reason="left")
    services.card_report_loss(card=cards[4], channel="kiosk")
    services.card_reverse_loss(card=cards[4], actor=staff, reason="found")
    Card.objects.filter(pk=cards[5].pk).update(valid_until="2000-01-01")
    services.cards_expire()
    blocked = set()
    for _, card_no, op, _ in _entries():
        (blocked.add if op == 1 else blocked.discard)(card_no)
    assert blocked == set(selectors.blocked_card_numbers())
    assert blocked == {cards[i].card_no for i in (0, 1, 2, 3, 5)}
