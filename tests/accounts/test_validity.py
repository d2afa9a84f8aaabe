"""Card validity: what a new card gets and how far it may be extended (R-CARD-6, R-CARD-7,
R-CARD-8); an expired card that is extended works again (R-CARD-9, R-TERM-3)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from accounts import services
from accounts.errors import BusinessError
from accounts.models import AuditLog, BlockListEntry, Card, Cardholder, CardStatus, Category
from tests.accounts.helpers import (
    at,
    consumption_card,
    fast_password_hashing,  # noqa: F401
    ordinary_card,
    snapshot,
)
from tests.factories import HolderFactory

pytestmark = pytest.mark.django_db

D = dt.date
TODAY = D(2026, 3, 15)


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(at(2026, 3, 15), tick=False):
        yield TODAY


def _formal(staff, **fields):
    return services.card_issue_formal(actor=staff, holder=HolderFactory(**fields))


# --- initial validity -----------------------------------------------------------------------------

@pytest.mark.parametrize("category", [Category.STAFF, Category.RETIREE, Category.TALENT_DISPATCH])
def test_staff_card_is_valid_35_years_R_CARD_6(staff, category):
    card = _formal(staff, category=category, end_date=None)
    assert card.issued_on == TODAY
    assert card.valid_until == D(2061, 3, 15)


def test_staff_card_issued_on_29_february_R_CARD_6(staff):
    with time_machine.travel(at(2028, 2, 29), tick=False):
        card = _formal(staff, category=Category.STAFF)
    assert card.valid_until == D(2063, 2, 28)


@pytest.mark.parametrize("category", [Category.UNDERGRADUATE, Category.JUNIOR_COLLEGE])
def test_undergraduate_card_valid_to_31_july_of_graduation_year_R_CARD_6(staff, category):
    card = _formal(staff, category=category, end_date=D(2029, 6, 20))
    assert card.valid_until == D(2029, 7, 31)
    # Even when the expected end is later in the year.
    card2 = _formal(staff, category=category, end_date=D(2028, 12, 31))
    assert card2.valid_until == D(2028, 7, 31)


@pytest.mark.parametrize(
    "category, entry, expected",
    [
        (Category.MASTER, "spring", D(2028, 6, 30)),
        (Category.MASTER, "autumn", D(2028, 9, 30)),
        (Category.DOCTORAL, "spring", D(2028, 6, 30)),
        (Category.DOCTORAL, "autumn", D(2028, 9, 30)),
    ],
)
def test_postgraduate_card_valid_to_30_june_or_30_september_R_CARD_6(staff, category, entry, expected):
    card = _formal(staff, category=category, entry=entry, end_date=D(2028, 1, 15))
    assert card.valid_until == expected


def test_student_card_needs_graduation_date_and_postgraduate_entry_R_CARD_6(staff):
    no_entry = HolderFactory(category=Category.MASTER, entry="")
    no_end = HolderFactory(category=Category.UNDERGRADUATE, end_date=None)
    before = snapshot()
    with pytest.raises(BusinessError, match="entry"):
        services.card_issue_formal(actor=staff, holder=no_entry)
    with pytest.raises(BusinessError, match="graduation date is required"):
        services.card_issue_formal(actor=staff, holder=no_end)
    assert snapshot() == before


def test_exchange_student_card_valid_to_end_of_exchange_R_CARD_6(staff):
    card = _formal(staff, category=Category.INTL_EXCHANGE, end_date=D(2027, 1, 20))
    assert card.valid_until == D(2027, 1, 20)


@pytest.mark.parametrize(
    "end_date, expected",
    [
        ("2027-12-31", D(2027, 12, 31)),  # the employment or study period
        ("2040-01-01", D(2031, 3, 15)),  # at most 5 years
        ("", D(2031, 3, 15)),  # no end given: 5 years
    ],
)
def test_ordinary_card_valid_min_of_end_date_and_5_years_R_CARD_7(staff, end_date, expected):
    card = ordinary_card(staff, end_date=end_date)
    assert card.valid_until == expected


def test_consumption_card_valid_2_years_R_CARD_8(staff):
    assert consumption_card(staff).valid_until == D(2028, 3, 15)


# --- extension --------------------------------------------------------------------------------------

def test_staff_extension_at_most_5_years_per_extension_R_CARD_6(staff):
    card = _formal(staff, category=Category.STAFF)  # valid until 2061-03-15
    before = snapshot()
    with pytest.raises(BusinessError, match="2066-03-15 at most"):
        services.card_extend(card=card, actor=staff, until=D(2066, 3, 16), reason="in person")
    assert snapshot() == before
    card = services.card_extend(card=card, actor=staff, until=D(2066, 3, 15), reason="in person")
    assert card.valid_until == D(2066, 3, 15)
    entry = AuditLog.objects.get(action="card_extend", card=card)
    assert entry.actor == staff and entry.reason == "in person"
    assert entry.data == {"old": "2061-03-15", "new": "2066-03-15"}


def test_extension_must_move_the_date_forward_and_needs_a_reason(staff):
    card = _formal(staff, category=Category.STAFF)
    before = snapshot()
    with pytest.raises(BusinessError, match="must be after 2061-03-15"):
        services.card_extend(card=card, actor=staff, until=D(2061, 3, 15), reason="x")
    with pytest.raises(BusinessError, match="reason"):
        services.card_extend(card=card, actor=staff, reason="  ")
    assert snapshot() == before


def test_extending_an_expired_card_makes_it_active_and_unblocks_it_R_CARD_6_R_CARD_9(staff):
    card = _formal(staff, category=Category.STAFF)
    Card.objects.filter(pk=card.pk).update(valid_until=D(2026, 6, 30))  # an old card, near its end
    with time_machine.travel(at(2026, 7, 10), tick=False):
        assert services.cards_expire() == 1
        card.refresh_from_db()
        assert card.status == CardStatus.EXPIRED
        # Past its validity a staff card is extended from today, by at most 5 years.
        with pytest.raises(BusinessError, match="2031-07-10 at most"):
            services.card_extend(card=card, actor=staff, until=D(2031, 7, 11), reason="in person")
        card.refresh_from_db()
        assert card.status == CardStatus.EXPIRED and card.valid_until == D(2026, 6, 30)
        services.card_extend(card=card, actor=staff, reason="in person")
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE and card.valid_until == D(2031, 7, 10)
    entries = list(BlockListEntry.objects.filter(card_no=card.card_no).values_list("op", "reason"))
    assert entries == [(1, "expired"), (0, "active")]
    assert AuditLog.objects.filter(card=card, action="card_unexpire", actor=staff).count() == 1


def test_student_extension_on_proof_of_changed_study_period_R_CARD_6(staff):
    card = _formal(staff, category=Category.UNDERGRADUATE, end_date=D(2029, 6, 30))  # 2029-07-31
    before = snapshot()
    with pytest.raises(BusinessError, match="proof of the changed study period"):
        services.card_extend(card=card, actor=staff, until=D(2030, 7, 31), reason="study extended")
    with pytest.raises(BusinessError, match="2030-07-31 at most"):
        services.card_extend(card=card, actor=staff, until=D(2030, 8, 1), reason="study extended",
                             proof_end_date=D(2030, 6, 30))
    assert snapshot() == before
    card = services.card_extend(card=card, actor=staff, reason="study extended", proof_end_date=D(2030, 6, 30))
    assert card.valid_until == D(2030, 7, 31)
    assert Cardholder.objects.get(pk=card.holder_id).end_date == D(2030, 6, 30)


def test_postgraduate_extension_keeps_the_entry_date_R_CARD_6(staff):
    card = _formal(staff, category=Category.DOCTORAL, entry="autumn", end_date=D(2028, 7, 1))
    card = services.card_extend(card=card, actor=staff, reason="thesis", proof_end_date=D(2029, 7, 1))
    assert card.valid_until == D(2029, 9, 30)


def test_ordinary_extension_on_proof_and_at_most_5_years_R_CARD_7(staff):
    card = ordinary_card(staff, end_date="2026-12-31")
    before = snapshot()
    with pytest.raises(BusinessError, match="proof of the new employment or study period"):
        services.card_extend(card=card, actor=staff, until=D(2027, 12, 31), reason="re-employed")
    with pytest.raises(BusinessError, match="2031-03-15 at most"):
        services.card_extend(card=card, actor=staff, until=D(2031, 3, 16), reason="re-employed",
                             proof_end_date=D(2035, 1, 1))
    assert snapshot() == before
    card = services.card_extend(card=card, actor=staff, reason="re-employed", proof_end_date=D(2035, 1, 1))
    assert card.valid_until == D(2031, 3, 15)  # capped at 5 years from today
    card2 = ordinary_card(staff, number="C0002", end_date="2026-12-31")
    card2 = services.card_extend(card=card2, actor=staff, reason="re-employed", proof_end_date=D(2027, 12, 31))
    assert card2.valid_until == D(2027, 12, 31)  # the proof's date
    assert Cardholder.objects.get(pk=card2.holder_id).end_date == D(2027, 12, 31)


def test_consumption_extension_on_proof_by_2_years_R_CARD_8(staff):
    card = consumption_card(staff)  # valid until 2028-03-15
    before = snapshot()
    with pytest.raises(BusinessError, match="proof"):
        services.card_extend(card=card, actor=staff, reason="stay extended")
    with pytest.raises(BusinessError, match="2030-03-15 at most"):
        services.card_extend(card=card, actor=staff, until=D(2030, 3, 16), reason="stay extended",
                             proof_end_date=D(2030, 12, 31))
    assert snapshot() == before
    card = services.card_extend(card=card, actor=staff, reason="stay extended", proof_end_date=D(2030, 12, 31))
    assert card.valid_until == D(2030, 3, 15)


def test_dead_cards_are_not_extended(staff, finance):
    card = _formal(staff, category=Category.STAFF)
    new = services.card_replace(card=card, actor=staff, reason="damaged")
    with pytest.raises(BusinessError, match="Card"):
        services.card_extend(card=card, actor=staff, reason="x")
    services.account_close(actor=finance, holder=new.holder, reason="left")
    with pytest.raises(BusinessError):
        services.card_extend(card=new, actor=staff, reason="x")


def test_a_lost_card_is_extended_and_stays_lost(staff):
    card = _formal(staff, category=Category.STAFF)
    services.card_report_loss(card=card, channel="kiosk")
    card = services.card_extend(card=card, actor=staff, reason="in person")
    assert card.valid_until == D(2066, 3, 15) and card.status == CardStatus.LOST
