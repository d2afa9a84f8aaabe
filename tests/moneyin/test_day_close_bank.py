"""R-DAY-1 with bank clearing (issue 13): the daily close counts the bank transfers the bank link
credited, the bank clearing account's movements are in the day's trial balance, and a statement
difference not yet adjusted (R-ADJ-1) is an exception of the close until it is."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts import services
from accounts.timeutil import BUSINESS_TZ, business_day
from moneyin.banklink import bank_transfer
from moneyin.reconcile import difference_adjustment_request, statement_import
from settlement.models import CloseException, DayClose
from settlement.services import day_close
from tests.accounts.helpers import formal_card

pytestmark = pytest.mark.django_db


def after_midnight(day: dt.date, days: int = 1) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=days), dt.time(0, 10), BUSINESS_TZ)


@pytest.fixture
def travel():
    travellers = []

    def go(moment):
        t = time_machine.travel(moment, tick=False)
        t.start()
        travellers.append(t)

    yield go
    for t in reversed(travellers):
        t.stop()


@pytest.fixture
def fin(make_user):
    return make_user("fin_a", "finance"), make_user("fin_b", "finance")


def test_r_day_1_close_balances_with_bank_clearing(bank, staff, fin, travel):
    today = business_day(timezone.now())
    h = formal_card(staff).holder
    ok = bank_transfer(holder=h, amount=5000)
    bank.fault("timeout")
    reversed_ = bank_transfer(holder=h, amount=700)
    bank.fault("decline")
    bank_transfer(holder=h, amount=900)
    assert (ok.status, reversed_.status) == ("approved", "reversed")
    statement = bank.statement(today)
    travel(after_midnight(today))
    st = statement_import(actor=fin[0], day=today, content=statement)
    assert st.matched == 1 and not st.differences.exists()
    dc = day_close(day=today)
    assert dc.status == DayClose.Status.BALANCED, list(dc.exceptions.values("kind", "ref", "detail"))
    tb = {r.kind: r for r in dc.trial_balance.all()}
    assert (tb["bank"].debit, tb["bank"].credit, tb["bank"].closing) == (5000, 0, 5000)
    assert sum(r.debit for r in tb.values()) == sum(r.credit for r in tb.values())
    assert sum(r.closing for r in tb.values()) == 0
    assert dc.totals["bank"] == {"transfers": 1, "transfer_amount": 5000, "reversing": 0, "bank_in_movement": 5000,
                                 "differences_open": 0}
    assert dc.totals["bank_movement"] == 5000


def test_r_day_1_open_statement_difference_is_a_close_exception_until_adjusted(bank, staff, fin, travel):
    today = business_day(timezone.now())
    h = formal_card(staff).holder
    bank_transfer(holder=h, amount=5000)
    statement = bank.statement(today) + f"{today},999000000002,000001,6222020000000000001,{h.number},,8.00\n"
    travel(after_midnight(today))
    st = statement_import(actor=fin[0], day=today, content=statement)
    diff = st.differences.get()
    dc = day_close(day=today)
    exc = dc.exceptions.get()
    assert (exc.kind, exc.ref, exc.amount) == (CloseException.Kind.BANK, f"diff:{diff.pk}", 800)
    assert dc.totals["trial_balance"]["balanced"] and dc.status == DayClose.Status.EXCEPTIONS
    # The difference was found the next day: moved there between bank clearing and suspense.
    assert diff.journal.business_day == today + dt.timedelta(days=1)
    req = difference_adjustment_request(actor=fin[0], difference=diff, kind="refund_holder", reason="长款退持卡人")
    req = services.adjustment_decide(actor=fin[1], request=req, approve=True)
    assert req.journal.business_day == today + dt.timedelta(days=1)
    travel(after_midnight(today, days=2))
    dc2 = day_close(day=today + dt.timedelta(days=1))
    assert dc2.status == DayClose.Status.BALANCED and dc2.totals["bank"]["differences_open"] == 0
    tb = {r.kind: r for r in dc2.trial_balance.all()}
    # Bank clearing now holds what the bank's statement says; suspense is cleared; it balances.
    assert tb["bank"].closing == 5800 and tb["bank"].debit == 800 and tb["suspense"].closing == 0
    assert dc2.totals["trial_balance"]["balanced"]
