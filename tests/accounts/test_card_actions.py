"""The card buttons come from services.CARD_ACTIONS and TRANSITIONS: for every card type and
status, a button is offered exactly when its service accepts the card (R-LOSS-*, R-FREEZE-1,
R-REPLACE-*, R-CARD-6…8, R-CLOSE-3)."""

from __future__ import annotations

import itertools

import pytest
from django.db import transaction
from django.test import RequestFactory

from accounts import admin_views, services
from accounts.errors import BusinessError
from accounts.models import Card, CardStatus, CardType
from accounts.timeutil import add_years, business_day
from tests.accounts.helpers import consumption_card, fast_password_hashing, formal_card, ordinary_card  # noqa: F401

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


def _accepts(action: str, card: Card, actor) -> bool:
    """Whether the service accepts `action` on `card`; whatever it did is rolled back."""
    today = business_day()
    calls = {
        "report_loss": lambda: services.card_report_loss(card=card, actor=actor, reason="x"),
        "reverse_loss": lambda: services.card_reverse_loss(card=card, actor=actor, reason="x"),
        "freeze": lambda: services.card_freeze(card=card, actor=actor, reason="x"),
        "unfreeze": lambda: services.card_unfreeze(card=card, actor=actor, reason="x"),
        "replace": lambda: services.card_replace(card=card, actor=actor, reason="x"),
        "extend": lambda: services.card_extend(card=card, actor=actor, reason="x",
                                               proof_end_date=add_years(today, 4)),
        "close": lambda: services.account_close(actor=actor, card=card, payout="cash", reason="x"),
    }
    try:
        with transaction.atomic():
            calls[action]()
            raise _Rollback
    except _Rollback:
        return True
    except BusinessError:
        return False


def test_every_action_has_a_rule_and_a_button():
    assert set(services.CARD_ACTIONS) == {a.slug.replace("-", "_") for a in admin_views.CARD_ACTIONS}


def test_buttons_match_what_the_services_accept_for_every_type_and_status(superuser):
    cards = {
        CardType.FORMAL: formal_card(superuser, category="staff"),
        # valid for two years, so the proof of a longer employment can extend it
        CardType.ORDINARY: ordinary_card(superuser, end_date=str(add_years(business_day(), 2))),
        CardType.CONSUMPTION: consumption_card(superuser),
    }
    request = RequestFactory().get("/")
    request.user = superuser
    mismatches = []
    for (card_type, card), status in itertools.product(cards.items(), CardStatus.values):
        Card.objects.filter(pk=card.pk).update(status=status)
        card.refresh_from_db()
        shown = {b["slug"].replace("-", "_") for b in admin_views.action_buttons(request, card)}
        for action in services.CARD_ACTIONS:
            if (action in shown) != _accepts(action, card, superuser):
                mismatches.append((CardType(card_type).name, status, action, action in shown))
    assert mismatches == []


def test_a_status_change_outside_transitions_is_refused():
    """TRANSITIONS is the one table: closed and replaced are final."""
    assert services.TRANSITIONS[CardStatus.CLOSED] == set() and services.TRANSITIONS[CardStatus.REPLACED] == set()
    for action, (_sources, target, _types) in services.CARD_ACTIONS.items():
        assert target is None or any(target in t for t in services.TRANSITIONS.values()), action
