"""The reads moved into the owning apps' selectors: block-list version at a time (R-TERM-3),
cards frozen in a period (R-FREEZE-1), merchant facts and membership (R-MER-4), a merchant's
statements, graduating holders (R-CLOSE-2)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts import selectors as acc
from accounts.services import card_freeze
from merchants import selectors as mer
from settlement import selectors as ss
from settlement.models import Statement
from tests.accounts.helpers import formal_card

pytestmark = pytest.mark.django_db


def test_r_term_3_blocklist_version_before_a_time(staff):
    card = formal_card(staff)
    before = timezone.now()
    card_freeze(card=card, actor=staff, reason="卡库不平")
    assert acc.blocklist_version_before(at=before) == 0
    assert acc.blocklist_version_before(at=timezone.now() + dt.timedelta(seconds=1)) == acc.blocklist_version()


def test_r_freeze_1_cards_frozen_count_in_a_period(staff):
    card = formal_card(staff)
    start = timezone.now() - dt.timedelta(minutes=1)
    card_freeze(card=card, actor=staff, reason="卡库不平")
    assert acc.cards_frozen_count(since=start, until=start + dt.timedelta(hours=1)) == 1
    assert acc.cards_frozen_count(since=start - dt.timedelta(days=1), until=start) == 0


def test_r_mer_4_merchant_facts_membership_and_statements(two_merchants):
    a, b = two_merchants["A"]["merchant"], two_merchants["B"]["merchant"]
    facts = mer.merchant_facts(merchant_ids=[a.pk])
    assert facts == {a.pk: {"kind": a.kind, "payable_account_id": a.payable_account_id, "code": "MA", "name": "商户A"}}
    assert mer.merchant_by_payable(account_ids=[b.payable_account_id]) == {b.payable_account_id: b.pk}
    user_a = two_merchants["A"]["user"]
    assert mer.merchant_user_belongs(user=user_a, merchant_id=a.pk)
    assert not mer.merchant_user_belongs(user=user_a, merchant_id=b.pk)
    sb = Statement.objects.create(merchant=b, period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 1, 31),
                                  computed_at=timezone.now())
    assert list(ss.statements_for_merchant(merchant=a)) == []
    assert ss.statement_of_merchant(merchant=a, pk=sb.pk) is None
    assert ss.statement_of_merchant(merchant=b, pk=sb.pk) == sb


def test_r_close_2_graduating_holders(staff):
    from tests.factories import HolderFactory

    leaving = HolderFactory(end_date=dt.date(2031, 7, 31))
    HolderFactory(end_date=dt.date(2032, 7, 31))
    assert list(acc.holders_graduating(graduation_year=2031)) == [leaving]
    assert list(ss.graduation_cohort(graduation_year=2031)) == [leaving]
