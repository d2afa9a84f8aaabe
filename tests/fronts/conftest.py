"""Fixtures for the fronts: a holder with a formal card, money and a kiosk password."""

from __future__ import annotations

import pytest

from accounts import services
from tests.accounts.helpers import fast_password_hashing, formal_card, fund  # noqa: F401

KIOSK_PW = "246810"


@pytest.fixture
def kiosk_holder(staff):
    """(holder, formal card) with 123.45 yuan and the kiosk password KIOSK_PW."""
    card = formal_card(staff, number="2026000777")
    fund(card, 12345, staff)
    services.holder_set_kiosk_password(actor=staff, holder=card.holder, raw_password=KIOSK_PW)
    card.refresh_from_db()
    return card.holder, card
