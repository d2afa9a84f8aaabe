"""Fixtures for the desk: a clerk of the card centre, a cashier, and a freshman registered but
without a card yet (as the intake leaves them)."""

from __future__ import annotations

import datetime as dt

import pytest
from stdnum.cn import ric

from accounts import services
from accounts.timeutil import business_day
from tests.accounts.helpers import fast_password_hashing  # noqa: F401  (autouse)
from tests.factories import UnitFactory


def id_number(n: int, born: str = "20070915") -> str:
    """A resident ID number with a right check digit (python-stdnum checks it)."""
    body = f"110108{born}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # it skips the last character


@pytest.fixture
def clerk(make_user):
    return make_user("clerk", "card_centre")


@pytest.fixture
def cashier(make_user):
    return make_user("cashier1", "cash_operator")


@pytest.fixture
def unit(db):
    return UnitFactory(code="CS", name="计算机学院")


@pytest.fixture
def freshman(clerk, unit):
    """An undergraduate registered by the intake, no card yet; kiosk reset needs the phone."""
    return services.holder_create(
        actor=clerk, number="T2026001", name="林小雨", category="undergraduate", unit=unit,
        id_number=id_number(1), phone="13912345678", start_date=dt.date(business_day().year, 9, 1),
        end_date=dt.date(business_day().year + 4, 7, 31), bank_card_no="6222020000000000001")


def desk_client(client, user):
    client.force_login(user)
    return client
