"""Fixtures for settlement: the terminals' fixtures (merchants of each kind, terminals, funded
cards) plus a till that charges through the real intake and posting, and a clock for days."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone, translation

from accounts.timeutil import BUSINESS_TZ, business_day
from tests.accounts.helpers import fast_password_hashing  # noqa: F401 (autouse)
from tests.terminals.conftest import admin_user, funded_card, make_terminal, merchants, rates  # noqa: F401
from tests.terminals.helpers import Till


@pytest.fixture(autouse=True)
def english_messages():
    """Service messages follow the active language (zh-hans by default); the tests that call
    services directly read them in English, as in tests/accounts. A request through the test
    client still picks its own language; test_i18n.py checks both languages."""
    with translation.override("en"):
        yield


@pytest.fixture
def finance2(make_user):
    """A second superuser, for two-person steps."""
    return make_user("finance2", "super_admin", is_superuser=True)


@pytest.fixture
def till(make_terminal, rates):  # noqa: F811 (fixtures imported above)
    """till(kind) -> a Till on a new terminal of a merchant of that kind."""

    def make(kind):
        terminal, _ = make_terminal(kind)
        return Till(terminal)

    return make


def after_midnight(day: dt.date, minutes: int = 10) -> dt.datetime:
    """`minutes` past midnight at the end of business day `day`, Beijing time."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, minutes), BUSINESS_TZ)


@pytest.fixture
def today():
    return business_day(timezone.now())


@pytest.fixture
def travel():
    """travel(moment): move the clock there (frozen) for the rest of the test."""
    travellers = []

    def go(moment):
        t = time_machine.travel(moment, tick=False)
        t.start()
        travellers.append(t)

    yield go
    for t in reversed(travellers):
        t.stop()
