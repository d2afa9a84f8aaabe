"""Fixtures for terminals: merchants of each kind, terminals with keys, cards with money."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts import services as acc
from accounts.models import CardType
from merchants.models import MerchantKind
from merchants.services import merchant_create
from terminals.services import surcharge_rate_add, terminal_add
from tests.factories import HolderFactory


@pytest.fixture
def admin_user(make_user):
    return make_user("gwadmin", "super_admin", is_superuser=True)


@pytest.fixture
def rates(admin_user):
    return surcharge_rate_add(actor=admin_user, effective_from=timezone.now() - dt.timedelta(days=30),
                              board_fee_bp=1000, energy_fee_bp=500, water_multiplier_pct=200)


@pytest.fixture
def merchants(admin_user):
    return {
        kind: merchant_create(actor=admin_user, code=f"M{int(kind)}", name=f"商户{int(kind)}", kind=kind)
        for kind in MerchantKind
    }


@pytest.fixture
def make_terminal(admin_user, merchants):
    def make(kind=MerchantKind.DINING):
        terminal, key = terminal_add(actor=admin_user, merchant=merchants[kind])
        return terminal, key

    return make


@pytest.fixture
def funded_card(admin_user):
    """A formal card whose purse holds `amount` fen, on the card as well (as after a top-up)."""

    def make(amount=10000, card_type=CardType.FORMAL):
        if card_type == CardType.FORMAL:
            holder = HolderFactory()
            card = acc.card_issue_formal(actor=admin_user, holder=holder)
        else:
            from tests.factories import UnitFactory

            batch = acc.card_batch_issue(actor=admin_user, unit=UnitFactory(), card_type=CardType.CONSUMPTION,
                                         quantity=1)
            card = batch.cards.get()
        if amount:
            cash = acc.cash_account_for(admin_user)
            from accounts.ledger import journal_post

            journal_post(kind="deposit", lines=[(cash, amount), (card.purse.account, -amount)], actor=admin_user,
                         reason="test top-up")
            card.purse.__class__.objects.filter(pk=card.purse_id).update(card_balance=amount)
        card.refresh_from_db()
        return card

    return make
