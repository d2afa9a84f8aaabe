"""Card validity (R-CARD-6, R-CARD-7, R-CARD-8): what a new card gets and how far it may be extended."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from .errors import BusinessError
from .models import POSTGRADUATE_CATEGORIES, STUDENT_CATEGORIES, Card, Cardholder, CardType, Category, Entry
from .timeutil import add_years

STAFF_YEARS = 35
STAFF_EXTENSION_YEARS = 5
ORDINARY_MAX_YEARS = 5
CONSUMPTION_YEARS = 2


def graduation_date(holder: Cardholder, end_date: dt.date | None = None) -> dt.date:
    """Normal graduation date of a student (R-CARD-6), from the expected end of study."""
    end = end_date or holder.end_date
    if end is None:
        raise BusinessError(_("%(holder)s: the expected graduation date is required for a student's card.") % {"holder": holder})
    if holder.category in (Category.UNDERGRADUATE, Category.JUNIOR_COLLEGE):
        return dt.date(end.year, 7, 31)
    if holder.category in POSTGRADUATE_CATEGORIES:
        if holder.entry == Entry.SPRING:
            return dt.date(end.year, 6, 30)
        if holder.entry == Entry.AUTUMN:
            return dt.date(end.year, 9, 30)
        raise BusinessError(_("%(holder)s: a postgraduate's entry (spring or autumn) is required.") % {"holder": holder})
    return end  # exchange students: the end of the agreed exchange


def initial_validity(card_type: int, holder: Cardholder | None, issued_on: dt.date) -> dt.date:
    if card_type == CardType.CONSUMPTION:
        return add_years(issued_on, CONSUMPTION_YEARS)
    if card_type == CardType.ORDINARY:
        limit = add_years(issued_on, ORDINARY_MAX_YEARS)
        return min(holder.end_date, limit) if holder.end_date else limit
    if holder.category in STUDENT_CATEGORIES:
        return graduation_date(holder)
    return add_years(issued_on, STAFF_YEARS)


def extension_limit(card: Card, today: dt.date, proof_end_date: dt.date | None) -> dt.date:
    """The latest date a card may be extended to today, given the proof presented."""
    base = max(card.valid_until, today)
    if card.card_type == CardType.CONSUMPTION:
        # M§16: on the same proofs as an ordinary card (employment or study period extended).
        if proof_end_date is None:
            raise BusinessError(_("A consumption card is extended on proof of the extended employment or study period."))
        return add_years(base, CONSUMPTION_YEARS)
    if card.card_type == CardType.ORDINARY:
        if proof_end_date is None:
            raise BusinessError(_("An ordinary card is extended on proof of the new employment or study period."))
        return min(proof_end_date, add_years(today, ORDINARY_MAX_YEARS))
    if card.holder.category in STUDENT_CATEGORIES:
        if proof_end_date is None:
            raise BusinessError(_("A student's card is extended on proof of the changed study period."))
        return graduation_date(card.holder, proof_end_date)
    return add_years(base, STAFF_EXTENSION_YEARS)
