"""Issuing cards: who may hold which card (R-CARD-1..4), formal cards in person (R-ISSUE-1),
ordinary and consumption cards only in a unit's batch (R-ISSUE-2)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from accounts import services
from accounts.errors import BusinessError, NotAllowed
from accounts.models import FORMAL_CATEGORIES, AuditLog, Card, CardStatus, CardType, Category
from accounts.timeutil import business_day
from tests.accounts.helpers import (
    consumption_card,
    fast_password_hashing,  # noqa: F401
    formal_card,
    ordinary_card,
    snapshot,
)
from tests.factories import HolderFactory, UnitFactory

pytestmark = pytest.mark.django_db

FREE_NO = 4_000_000_000  # far from the issuing sequence
ORDINARY_CATEGORIES = {Category.CONTRACT_STAFF, Category.NON_PLAN_STUDENT, Category.OTHER_RESIDENT}


def _holder(category: str):
    entry = "autumn" if category in (Category.MASTER, Category.DOCTORAL) else ""
    return HolderFactory(category=category, entry=entry)


def test_three_card_types_R_CARD_1():
    assert {c.value for c in CardType} == {1, 2, 3}
    assert CardType.FORMAL.value == 1 and CardType.ORDINARY.value == 2 and CardType.CONSUMPTION.value == 3


@pytest.mark.parametrize("category", list(Category))
def test_eligibility_of_each_category_R_CARD_2_R_CARD_3_R_CARD_4(category):
    """Formal: the establishment, retirees, talent-centre staff, state-plan undergraduates and
    junior-college students, master's, doctoral and exchange students. Ordinary: every other
    non-short-term person. Consumption: anyone, the only card for short-term visitors."""
    holder = _holder(category)
    formal_ok = services.holder_eligible(holder, CardType.FORMAL) is None
    ordinary_ok = services.holder_eligible(holder, CardType.ORDINARY) is None
    assert formal_ok == (category in FORMAL_CATEGORIES)
    assert ordinary_ok == (category in ORDINARY_CATEGORIES)
    assert services.holder_eligible(holder, CardType.CONSUMPTION) is None
    # Exactly one of formal / ordinary / (consumption only) applies to each category.
    assert formal_ok + ordinary_ok <= 1
    if category == Category.SHORT_TERM:
        assert "consumption cards only" in services.holder_eligible(holder, CardType.ORDINARY)


def test_formal_categories_are_those_of_the_regulation_R_CARD_2():
    assert FORMAL_CATEGORIES == {
        Category.STAFF, Category.RETIREE, Category.TALENT_DISPATCH, Category.UNDERGRADUATE,
        Category.JUNIOR_COLLEGE, Category.MASTER, Category.DOCTORAL, Category.INTL_EXCHANGE,
    }


@pytest.mark.parametrize("category", sorted(FORMAL_CATEGORIES))
def test_formal_card_issued_in_person_to_each_eligible_category_R_ISSUE_1(staff, category):
    holder = _holder(category)
    card = services.card_issue_formal(actor=staff, holder=holder)
    assert card.card_type == CardType.FORMAL and card.holder == holder and card.status == CardStatus.ACTIVE
    assert card.purse == holder.purse and card.issued_on == business_day()
    audit = AuditLog.objects.get(action="card_issue", card=card)
    assert audit.actor == staff and audit.channel == "staff" and audit.data["first"] is True


@pytest.mark.parametrize("category", sorted(set(Category) - FORMAL_CATEGORIES))
def test_formal_card_refused_to_ineligible_categories_R_CARD_2(staff, category):
    holder = _holder(category)
    before = snapshot()
    with pytest.raises(BusinessError, match=r"not eligible for a formal card \(R-CARD-2\)"):
        services.card_issue_formal(actor=staff, holder=holder)
    assert snapshot() == before


def test_second_live_formal_card_refused_and_nothing_changes_R_CARD_2(staff):
    card = formal_card(staff)
    before = snapshot()
    with pytest.raises(BusinessError, match="already has a live") as exc:
        services.card_issue_formal(actor=staff, holder=card.holder)
    assert "R-CARD-2" in str(exc.value)
    assert snapshot() == before
    # Lost, frozen and expired cards are still live: still refused.
    for status in (CardStatus.LOST, CardStatus.FROZEN, CardStatus.EXPIRED):
        Card.objects.filter(pk=card.pk).update(status=status)
        with pytest.raises(BusinessError, match="already has a live"):
            services.card_issue_formal(actor=staff, holder=card.holder)


def test_one_live_card_per_type_is_a_database_constraint_R_CARD_2_R_CARD_3(staff):
    """Bypassing the service, the partial unique index still refuses a second live card."""
    card = formal_card(staff)
    for status in (CardStatus.ACTIVE, CardStatus.LOST):
        with pytest.raises(IntegrityError, match="one_live_card_per_type"), transaction.atomic():
            Card.objects.create(card_no=FREE_NO, card_type=CardType.FORMAL, holder=card.holder,
                                purse=card.purse, status=status, issued_on=card.issued_on, valid_until=card.valid_until)
    # A dead (replaced/closed) card does not count.
    Card.objects.create(card_no=FREE_NO + 1, card_type=CardType.FORMAL, holder=card.holder,
                        purse=card.purse, status=CardStatus.REPLACED, issued_on=card.issued_on,
                        valid_until=card.valid_until)
    ordinary = ordinary_card(staff)
    with pytest.raises(IntegrityError, match="one_live_card_per_type"), transaction.atomic():
        Card.objects.create(card_no=FREE_NO + 2, card_type=CardType.ORDINARY, holder=ordinary.holder,
                            purse=ordinary.purse, issued_on=ordinary.issued_on, valid_until=ordinary.valid_until)


def test_at_most_one_live_ordinary_card_R_CARD_3(staff):
    card = ordinary_card(staff, number="C1")
    why_not = services.holder_eligible(card.holder, CardType.ORDINARY)
    assert "already has a live" in why_not and "R-CARD-3" in why_not


def test_consumption_cards_have_no_holder_any_number_R_CARD_4(staff):
    unit = UnitFactory()
    batch = services.card_batch_issue(actor=staff, unit=unit, card_type=CardType.CONSUMPTION, quantity=3)
    cards = list(batch.cards.all())
    assert len(cards) == 3
    assert all(c.holder is None and c.card_type == CardType.CONSUMPTION and c.purse.holder is None for c in cards)
    assert len({c.purse_id for c in cards}) == 3  # each its own anonymous purse
    # The database refuses a consumption card with a holder, and a real-name card without one.
    holder = HolderFactory()
    with pytest.raises(IntegrityError, match="holder_matches_type"), transaction.atomic():
        Card.objects.create(card_no=FREE_NO + 3, card_type=CardType.CONSUMPTION, holder=holder,
                            purse=holder.purse, issued_on=dt.date.today(), valid_until=dt.date.today())
    with pytest.raises(IntegrityError, match="holder_matches_type"), transaction.atomic():
        Card.objects.create(card_no=FREE_NO + 4, card_type=CardType.FORMAL, holder=None,
                            purse=cards[0].purse, issued_on=dt.date.today(), valid_until=dt.date.today())


def test_consumption_batch_with_labels_R_CARD_4(staff):
    rows = [{"_row": 2, "label": "进修 A"}, {"_row": 3, "label": "实习 B"}]
    batch = services.card_batch_issue(actor=staff, unit=UnitFactory(), card_type=CardType.CONSUMPTION, rows=rows)
    assert sorted(batch.cards.values_list("label", flat=True)) == ["实习 B", "进修 A"]


def test_ordinary_and_consumption_only_in_batches_R_ISSUE_2(staff):
    """No individual application: formal is the only single issue, and batches take only
    ordinary and consumption cards."""
    holder = HolderFactory(category=Category.CONTRACT_STAFF)
    with pytest.raises(BusinessError, match="not eligible for a formal card"):
        services.card_issue_formal(actor=staff, holder=holder)
    before = snapshot()
    with pytest.raises(BusinessError, match=r"Only ordinary and consumption cards are issued in batches \(R-ISSUE-2\)"):
        services.card_batch_issue(actor=staff, unit=UnitFactory(), card_type=CardType.FORMAL,
                                  rows=[{"_row": 2, "number": "X", "name": "X", "category": "staff"}])
    assert snapshot() == before
    # A batch belongs to a unit; its cards carry the unit.
    unit = UnitFactory()
    card = ordinary_card(staff, unit=unit)
    assert card.unit == unit and card.batch.unit == unit and card.batch.actor == staff


def test_batch_needs_rows_or_a_quantity_R_ISSUE_2(staff):
    unit = UnitFactory()
    before = snapshot()
    with pytest.raises(BusinessError, match="between 1 and 5000"):
        services.card_batch_issue(actor=staff, unit=unit, card_type=CardType.CONSUMPTION, quantity=0)
    with pytest.raises(BusinessError, match="no rows"):
        services.card_batch_issue(actor=staff, unit=unit, card_type=CardType.ORDINARY, rows=[])
    with pytest.raises(BusinessError, match="not from purses"):
        services.card_batch_issue(actor=staff, unit=unit, card_type=CardType.CONSUMPTION, quantity=1,
                                  fee_payment="purse")
    assert snapshot() == before


def test_card_numbers_are_unique_and_fit_32_bits(staff):
    cards = [formal_card(staff) for _ in range(3)] + [consumption_card(staff)]
    numbers = [c.card_no for c in cards]
    assert len(set(numbers)) == 4 and all(0 < n <= 0xFFFFFFFF for n in numbers)


def test_a_card_is_never_issued_already_past_its_validity_R_CARD_9(staff):
    """A student whose graduation date has passed is no longer enrolled: a card valid only until
    a past date would pay until the nightly expiry run, so it is refused."""
    holder = HolderFactory(category=Category.UNDERGRADUATE, end_date=dt.date(2001, 6, 30))
    before = snapshot()
    with pytest.raises(BusinessError, match="2001-07-31"):
        services.card_issue_formal(actor=staff, holder=holder)
    assert snapshot() == before


def test_new_card_carries_the_purse_balance(staff):
    """A new card starts from the account (库): card balance = account balance, counter 0."""
    holder = HolderFactory()
    card = services.card_issue_formal(actor=staff, holder=holder)
    assert card.purse.card_counter == 0 and card.purse.card_balance == card.purse.account.balance == 0


def test_subsystems_switch_functions_per_card_but_not_on_consumption_cards_R_CARD_5_R_SUB_1(staff, make_user):
    formal, ordinary, anonymous = formal_card(staff), ordinary_card(staff), consumption_card(staff)
    services.card_functions_set(card=formal, actor=staff, functions=["library", " access ", "library", ""],
                                reason="library account opened")
    services.card_functions_set(card=ordinary, actor=staff, functions=["library"], reason="library rules")
    assert Card.objects.get(pk=formal.pk).functions == ["access", "library"]
    assert Card.objects.get(pk=ordinary.pk).functions == ["library"]
    entry = AuditLog.objects.get(action="card_functions", card=formal)
    assert entry.actor == staff and entry.data == {"old": [], "new": ["access", "library"]}
    cashier = make_user("cashier1", "cash_operator")  # the role opens a cash account: before the snapshot
    before = snapshot()
    with pytest.raises(BusinessError, match=r"only pays at merchants \(R-CARD-5\)"):
        services.card_functions_set(card=anonymous, actor=staff, functions=["library"])
    with pytest.raises(NotAllowed):
        services.card_functions_set(card=formal, actor=cashier, functions=[])
    assert snapshot() == before
