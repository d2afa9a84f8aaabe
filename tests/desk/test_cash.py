"""The cashier's counter deposit (现金充值) and their own shift/day cash report, which balances
against the ledger; the daily close takes counter cash without an operator difference (R-DAY-1)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from accounts import selectors, services
from accounts.errors import BusinessError, NotAllowed
from accounts.models import AuditLog, Journal, LedgerAccount
from accounts.timeutil import BUSINESS_TZ
from tests.accounts.helpers import consumption_card, snapshot

from .conftest import desk_client

pytestmark = pytest.mark.django_db


def deposit(actor, holder, amount, key=None):
    return services.purse_deposit_cash(actor=actor, holder=holder, amount=amount, key=key or services.cash_deposit_key())


def test_a_deposit_is_the_cashiers_cash_against_the_purse_and_pending_to_the_card(cashier, freshman):
    journal = deposit(cashier, freshman, 10050)
    freshman.purse.refresh_from_db()
    freshman.purse.account.refresh_from_db()
    assert freshman.purse.account.balance == 10050 and freshman.purse.pending == 10050
    assert freshman.purse.card_balance == 0  # no card was written at the counter
    cash = LedgerAccount.objects.get(kind="cash", operator=cashier)
    assert cash.balance == 10050 and journal.kind == "deposit"
    entry = AuditLog.objects.get(action="cash_deposit", journal=journal)
    assert entry.actor == cashier and entry.data["amount"] == 10050


def test_the_same_form_sent_twice_posts_once(cashier, freshman):
    key = services.cash_deposit_key()
    first = deposit(cashier, freshman, 5000, key)
    again = deposit(cashier, freshman, 5000, key)
    assert again.pk == first.pk and Journal.objects.filter(kind="deposit").count() == 1
    with pytest.raises(BusinessError):
        deposit(cashier, freshman, 7000, key)  # the key of another deposit


@pytest.mark.parametrize("amount", [0, -100, 12.5, "1.5", True, 100001])
def test_bad_amounts_are_refused_and_nothing_changes(cashier, freshman, amount):
    before = snapshot()
    with pytest.raises(BusinessError):
        deposit(cashier, freshman, amount)
    assert snapshot() == before


def test_only_a_cash_operator_takes_cash_and_never_for_a_closed_account(clerk, cashier, freshman, make_user):
    with pytest.raises(NotAllowed):
        deposit(clerk, freshman, 100)
    finance = make_user("fin-d", "finance")
    services.account_close(actor=finance, holder=freshman, payout="cash", reason="leaves")
    with pytest.raises(BusinessError, match="销户|closed"):
        deposit(cashier, freshman, 100)


def test_a_consumption_card_takes_cash_too(cashier, clerk):
    card = consumption_card(clerk)
    services.purse_deposit_cash(actor=cashier, card=card, amount=2000, key=services.cash_deposit_key())
    card.purse.account.refresh_from_db()
    assert card.purse.account.balance == 2000


def test_deposit_at_the_desk_confirmation_receipt_and_no_double(client, cashier, freshman):
    desk_client(client, cashier)
    form = client.get(f"/desk/holders/{freshman.pk}/deposit/")
    key = form.context["form"].initial["key"]
    assert len(key) == 32 and "现金充值" in form.content.decode()
    done = client.post(f"/desk/holders/{freshman.pk}/deposit/", {"amount": "100.50", "key": key})
    twice = client.post(f"/desk/holders/{freshman.pk}/deposit/", {"amount": "100.50", "key": key})
    assert done["Location"] == twice["Location"]  # the second submit shows the first receipt
    receipt = client.get(done["Location"]).content.decode()
    assert "100.50" in receipt and "圈存" in receipt
    assert Journal.objects.filter(kind="deposit").count() == 1
    bad = client.post(f"/desk/holders/{freshman.pk}/deposit/", {"amount": "-5", "key": services.cash_deposit_key()})
    assert bad.status_code == 200 and Journal.objects.filter(kind="deposit").count() == 1


def test_r_day_1_shift_and_day_cash_report_balance_against_the_ledger(client, cashier, freshman, clerk):
    yesterday = dt.datetime.now(BUSINESS_TZ) - dt.timedelta(days=1)
    with time_machine.travel(yesterday, tick=False):
        deposit(cashier, freshman, 30000)  # cash on hand before today: the report's opening
    deposit(cashier, freshman, 10000)
    deposit(cashier, freshman, 5050)
    services.card_issue_formal(actor=clerk, holder=freshman)  # free, and the clerk's cash anyway
    desk_client(client, cashier)
    page = client.get("/desk/cash/?period=day")
    report = page.context["report"]
    assert report["received"] == 15050 and report["opening"] == 30000 and report["balanced"]
    assert [g["family"] for g in report["groups"]] == ["counter_deposit"] and report["groups"][0]["count"] == 2
    html = page.content.decode()
    assert "平衡：报表与总账一致。" in html and "150.50" in html
    shift = client.get("/desk/cash/").context
    assert shift["period"] == "shift" and shift["report"]["balanced"]


def test_the_report_says_so_when_the_ledger_disagrees(cashier, freshman):
    deposit(cashier, freshman, 1000)
    LedgerAccount.objects.filter(kind="cash", operator=cashier).update(balance=999)  # a drifted balance
    now = dt.datetime.now(BUSINESS_TZ)
    report = selectors.cash_report(operator=cashier, since=now - dt.timedelta(hours=1), until=now)
    assert report["movement"] == 1000 and not report["balanced"]
    LedgerAccount.objects.filter(kind="cash", operator=cashier).update(balance=1000)


def test_r_day_1_daily_close_takes_counter_cash_without_an_operator_difference(cashier, freshman):
    from settlement import services as settlement
    from settlement.models import CloseException

    day = dt.datetime.now(BUSINESS_TZ).date() - dt.timedelta(days=1)
    with time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=BUSINESS_TZ), tick=False):
        deposit(cashier, freshman, 8800)
    close = settlement.day_close(day=day)
    assert not CloseException.objects.filter(day_close=close).exists()
