"""Monthly settlement (R-SET-*): statements from the daily closes, the 0.5% fee, the U§11
window, check/approve/pay, immutability once paid, the catering surcharge, what is late."""

import datetime as dt

import pytest

from accounts.errors import BusinessError
from accounts.models import CardType, LedgerAccount
from merchants.models import MerchantKind
from settlement import selectors, services
from settlement.models import Statement

from .conftest import after_midnight

pytestmark = pytest.mark.django_db


def bal(kind):
    return LedgerAccount.objects.get(kind=kind).balance


@pytest.mark.parametrize("amount, fee", [
    (0, 0), (99, 0), (100, 1), (199, 1), (300, 2), (500, 3), (900, 5), (1100, 6), (1099, 5), (200000, 1000), (-500, 0),
])
def test_r_set_2_fee_is_half_a_percent_rounded_half_up_once(amount, fee):
    """100 fen → 0.5 fen → 1; 300 → 1.5 → 2; 500 → 2.5 → 3: exact half fen always rounds up."""
    assert services.management_fee(amount) == fee


@pytest.fixture
def month(till, funded_card, today, travel, merchants):
    """One closed day of charges: dining 500 + consumption card 400 (+60 surcharge); retail 100."""
    dining, retail = till(MerchantKind.DINING), till(MerchantKind.RETAIL)
    formal = funded_card(10000)
    anon = funded_card(10000, card_type=CardType.CONSUMPTION)
    dining.card(formal)
    dining.card(anon)
    dining.send([dining.purchase(formal, 500), dining.purchase(anon, 400, 60)])
    retail.card(formal, balance=9500, counter=1)
    retail.send([retail.purchase(formal, 100)])  # fee on 100 fen is exactly half a fen
    travel(after_midnight(today))
    services.day_close(day=today)
    return {"day": today, "dining": merchants[MerchantKind.DINING], "retail": merchants[MerchantKind.RETAIL]}


def _window_day(day):
    start, _ = selectors.application_window(day)
    return start


def test_r_set_1_statements_built_from_the_daily_closes(month):
    n = services.settlement_compute(period_start=month["day"], period_end=month["day"])
    assert n == 3  # two merchants and the catering surcharge
    dining = Statement.objects.get(merchant=month["dining"])
    assert (dining.purchases, dining.consumption, dining.fee_base, dining.fee, dining.net) == (2, 900, 900, 5, 895)
    retail = Statement.objects.get(merchant=month["retail"])
    assert (retail.consumption, retail.fee, retail.net) == (100, 1, 99)  # R-SET-2: 0.5 fen rounds up
    sur = Statement.objects.get(kind=Statement.Kind.SURCHARGE)
    assert (sur.consumption, sur.fee, sur.net) == (60, 0, 60)


def test_r_set_1_days_not_closed_are_refused(month):
    with pytest.raises(BusinessError, match="not closed"):
        services.settlement_compute(period_start=month["day"], period_end=month["day"] + dt.timedelta(days=1))


def test_r_set_3_apply_check_approve_pay_and_the_ledger(month, admin_user, finance2):
    services.settlement_compute(period_start=month["day"], period_end=month["day"])
    st = Statement.objects.get(merchant=month["dining"])
    window = _window_day(month["day"])
    with pytest.raises(BusinessError, match="open on"):
        services.statement_apply(actor=admin_user, statement=st, today=window - dt.timedelta(days=1))
    with pytest.raises(BusinessError, match="applied for first"):
        services.statement_check(actor=admin_user, statement=st)
    st = services.statement_apply(actor=admin_user, statement=st, today=window)
    assert st.status == "applied" and not st.applied_late
    st = services.statement_check(actor=admin_user, statement=st, note="agreed with merchant")
    with pytest.raises(BusinessError, match="cannot also approve"):
        services.statement_approve(actor=admin_user, statement=st)
    with pytest.raises(BusinessError, match="approve it first"):
        services.statement_pay(actor=finance2, statement=st, bank_ref="B1")
    st = services.statement_approve(actor=finance2, statement=st)
    month["dining"].payable_account.refresh_from_db()
    payable_before = month["dining"].payable_account.balance
    mgmt, bank = bal("mgmt_fee"), bal("bank")
    st = services.statement_pay(actor=finance2, statement=st, bank_ref="BANK-0001")
    month["dining"].payable_account.refresh_from_db()
    assert payable_before == 900 and month["dining"].payable_account.balance == 0
    assert bal("mgmt_fee") - mgmt == 5 and bank - bal("bank") == 895
    assert st.payout_journal.source == f"settle-pay:{st.pk}" and st.fee_journal.source == f"settle-fee:{st.pk}"


def test_r_set_1_rerun_gives_the_same_numbers_and_a_paid_statement_is_immutable(month, admin_user, finance2):
    services.settlement_compute(period_start=month["day"], period_end=month["day"])
    fields = ["purchases", "consumption", "refunds", "corrections", "held_amount", "fee_base", "fee", "net", "status"]
    first = list(Statement.objects.order_by("pk").values_list(*fields))
    services.settlement_compute(period_start=month["day"], period_end=month["day"])
    assert list(Statement.objects.order_by("pk").values_list(*fields)) == first
    st = Statement.objects.get(merchant=month["retail"])
    services.statement_apply(actor=admin_user, statement=st, today=_window_day(month["day"]))
    services.statement_check(actor=admin_user, statement=st)
    services.statement_approve(actor=finance2, statement=st)
    paid = services.statement_pay(actor=finance2, statement=st, bank_ref="B2")
    computed = paid.computed_at
    services.settlement_compute(period_start=month["day"], period_end=month["day"])
    paid.refresh_from_db()
    assert paid.status == "paid" and paid.computed_at == computed and paid.net == 99
    with pytest.raises(BusinessError, match="Paid|已付款"):
        services.statement_pay(actor=finance2, statement=paid, bank_ref="B3")
    with pytest.raises(BusinessError):
        services.statement_apply(actor=admin_user, statement=paid, today=_window_day(month["day"]))


def test_r_sur_1_catering_surcharge_settled_separately(month, admin_user, finance2):
    services.settlement_compute(period_start=month["day"], period_end=month["day"])
    sur = Statement.objects.get(kind=Statement.Kind.SURCHARGE)
    services.statement_check(actor=admin_user, statement=sur)  # no application needed
    services.statement_approve(actor=finance2, statement=sur)
    before = bal("surcharge")
    services.statement_pay(actor=finance2, statement=sur, bank_ref="CATERING-1")
    assert before - bal("surcharge") == 60


def test_r_set_3_late_application_and_what_is_late(month, admin_user):
    services.settlement_compute(period_start=month["day"], period_end=month["day"])
    _, end = selectors.application_window(month["day"])
    late = {(x["statement"].merchant_id, x["reason"]) for x in selectors.statements_late(today=end + dt.timedelta(days=1))}
    assert (month["dining"].pk, "not_applied") in late and (month["retail"].pk, "not_applied") in late
    assert selectors.statements_late(today=end) == []
    st = services.statement_apply(actor=admin_user, statement=Statement.objects.get(merchant=month["dining"]),
                                  today=end + dt.timedelta(days=1))
    assert st.applied_late


@pytest.mark.parametrize("amount", [99, 100, 199, 300, 1099, 1100])
def test_r_set_2_settlement_sql_rounds_the_fee_exactly_like_integer_half_up(amount, till, funded_card, today, travel,
                                                                          merchants):
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(5000))
    t.send([t.purchase(card, amount)])
    travel(after_midnight(today))
    services.day_close(day=today)
    services.settlement_compute(period_start=today, period_end=today)
    st = Statement.objects.get(merchant=merchants[MerchantKind.RETAIL])
    assert (st.fee, st.net) == (services.management_fee(amount), amount - services.management_fee(amount))
