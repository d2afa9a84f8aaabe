"""Forms that move money or change cards, with malformed, oversized and out-of-range input, on
real objects: each gets a form error or a refusal message (never a 500) and changes nothing."""

from __future__ import annotations

import pytest

from accounts.models import Card, FeeSchedule
from merchants.models import MerchantKind
from settlement import services as settlement
from settlement.models import Statement
from tests.settlement.conftest import after_midnight, till, today, travel  # noqa: F401
from tests.terminals.conftest import admin_user, funded_card, make_terminal, merchants, rates  # noqa: F401

from .conftest import login, snapshot

pytestmark = pytest.mark.django_db

# Full-width digits (１２) are a valid 12 yuan to Django's DecimalField, as a Chinese IME types them.
AMOUNTS = ["-1", "-0.01", "0.001", "1e309", "NaN", "Infinity", "-Infinity", "abc", "", "1" * 40,
           "99999999999999999999", "1,000", "0x10", "\x00", "0"]
BAD_DATES = ["2026-02-30", "2026-13-01", "0000-00-00", "99999-01-01", "yesterday", "-1", "", "2026-01-01T25:00", "\x00"]


def post_unchanged(client, url, data, *, ok=(200, 302)):
    """POST, expect a 4xx or a page with errors (200) or a redirect back with a message (302),
    and nothing changed."""
    before = snapshot()
    response = client.post(url, data)
    assert response.status_code < 500, (url, data, response.status_code)
    assert response.status_code in ok or 400 <= response.status_code < 500
    assert snapshot() == before, (url, data)
    return response


# --- the card centre's money and card buttons ---------------------------------------------------

@pytest.mark.parametrize("amount", AMOUNTS)
@pytest.mark.parametrize("kind", ["debit_bank", "refund_holder", "zz"])
def test_r_adj_1_adjust_account_refuses_bad_amounts(world, amount, kind):
    holder = world["holder"]
    response = post_unchanged(login(world["root"]), f"/admin/accounts/cardholder/{holder.pk}/adjust/",
                              {"kind": kind, "amount": amount, "reason": "test"})
    assert response.status_code == 200 and response.context["form"].errors


def test_r_adj_1_adjust_account_refuses_an_amount_beyond_the_balance_sheet(world):
    """Ten billion yuan passes the form (12 digits) but not the service."""
    holder = world["holder"]
    post_unchanged(login(world["root"]), f"/admin/accounts/cardholder/{holder.pk}/adjust/",
                   {"kind": "debit_card", "amount": "9999999999.99", "reason": "test"})


@pytest.mark.parametrize("amount", [a for a in AMOUNTS if a != "0"])  # a zero fee is the school's to decide
def test_r_fee_2_fee_schedule_refuses_bad_amounts(world, amount):
    response = post_unchanged(login(world["root"]), "/admin/accounts/feeschedule/add/",
                              {"kind": FeeSchedule.Kind.NEW_CARD, "effective_from": "2030-01-01",
                               "amount_yuan": amount, "reason": "test"})
    assert response.status_code == 200 and response.context["adminform"].form.errors


@pytest.mark.parametrize("day", BAD_DATES)
def test_fee_schedule_refuses_bad_dates(world, day):
    response = post_unchanged(login(world["root"]), "/admin/accounts/feeschedule/add/",
                              {"kind": FeeSchedule.Kind.NEW_CARD, "effective_from": day, "amount_yuan": "30",
                               "reason": "test"})
    assert response.status_code == 200 and response.context["adminform"].form.errors


@pytest.mark.parametrize("field,value", [
    ("name", "名" * 65), ("name", "\x00"), ("id_number", "x" * 40),
    ("start_date", "2026-02-30"), ("end_date", "99999-01-01"), ("bank_card_no", "6" * 100), ("category", "boss"),
    ("unit", "999999999999"), ("unit", "abc"), ("change_reason", "r" * 5000),
])
def test_cardholder_form_refuses_bad_fields(world, field, value):
    holder = world["holder"]
    data = {"number": holder.number, "name": holder.name, "id_number": "", "category": holder.category,
            "entry": "", "unit": holder.unit_id, "start_date": "2025-09-01", "end_date": "2029-06-30",
            "bank_card_no": "", "change_reason": "test", field: value}
    response = post_unchanged(login(world["root"]), f"/admin/accounts/cardholder/{holder.pk}/change/", data)
    assert response.status_code == 200 and response.context["adminform"].form.errors


@pytest.mark.parametrize("until", BAD_DATES + ["1900-01-01", "9999-12-31"])
def test_r_card_6_extend_refuses_bad_dates(world, until):
    card = world["card"]
    post_unchanged(login(world["root"]), f"/admin/accounts/card/{card.pk}/extend/",
                   {"until": until, "proof_end_date": until, "reason": "test"})


@pytest.mark.parametrize("slug", ["report-loss", "freeze", "replace", "close", "extend", "reverse-loss"])
def test_card_buttons_without_csrf_are_refused(world, slug):
    card = world["card"]
    post_unchanged(login(world["root"], csrf=True), f"/admin/accounts/card/{card.pk}/{slug}/",
                   {"reason": "x", "payout": "cash", "fee_payment": "cash", "until": "2030-01-01"}, ok=(403,))
    assert Card.objects.get(pk=card.pk).status == "active"


@pytest.mark.parametrize("slug", ["adjust", "close", "kiosk-password", "issue-formal"])
def test_holder_buttons_without_csrf_are_refused(world, slug):
    holder = world["holder"]
    post_unchanged(login(world["root"], csrf=True), f"/admin/accounts/cardholder/{holder.pk}/{slug}/",
                   {"kind": "refund_holder", "amount": "1", "reason": "x", "payout": "cash", "password1": "123456",
                    "password2": "123456", "fee_payment": "cash"}, ok=(403,))


# --- terminal records: staff adjust an exception's amounts ------------------------------------

@pytest.fixture
def exception_record(world):
    import datetime as dt

    from django.utils import timezone

    from tests.fronts.conftest import make_record

    return make_record(world["terminal"], world["merchant"], 1, 500, timezone.now() - dt.timedelta(hours=1),
                       status="exception", problems=["card_unknown"])


@pytest.mark.parametrize("amount", ["-1", "1e3", "abc", str(2**63), str(10**30), "99999999999999999999"])
def test_record_adjust_refuses_amounts_a_terminal_cannot_send(world, exception_record, amount):
    response = post_unchanged(login(world["root"]), "/admin/terminals/record/", {
        "action": "adjust_and_post", "_selected_action": [exception_record.pk], "confirm": "1", "reason": "test",
        "base_amount": amount, "surcharge": "0"})
    assert response.status_code == 200 and response.context["form"].errors


# --- the finance desk ---------------------------------------------------------------------------

@pytest.fixture
def approved(till, funded_card, today, travel, merchants, admin_user, world):  # noqa: F811
    """A retail statement approved by finance: the next step is paying it."""
    retail = till(MerchantKind.RETAIL)
    card = retail.card(funded_card(20000))
    retail.send([retail.purchase(card, 4567)])
    travel(after_midnight(today))
    settlement.day_close(day=today)
    settlement.settlement_compute(period_start=today, period_end=today)
    st = Statement.objects.get(merchant=merchants[MerchantKind.RETAIL])
    start, _ = settlement.selectors.application_window(today)
    settlement.statement_apply(actor=admin_user, statement=st, today=start)
    settlement.statement_check(actor=admin_user, statement=st)
    settlement.statement_approve(actor=world["root"], statement=st)
    return st


@pytest.mark.parametrize("bank_ref", ["", "   ", "\x00", "B1\x00", "B1\r\nB2", "r" * 61, "r" * 200, "r" * 100000])
def test_paying_with_a_bad_bank_reference_is_refused_or_kept_whole(world, approved, bank_ref):
    """Regression: a reference over 60 characters was cut silently (unreconcilable with the
    bank's record) and one with NUL answered 500. Now both are refused with a message."""
    client = login(world["root"])
    before = snapshot()
    response = client.post(f"/finance/statements/{approved.pk}/pay/", {"bank_ref": bank_ref})
    assert response.status_code in (302, 400)
    approved.refresh_from_db()
    assert approved.status == Statement.Status.APPROVED
    assert snapshot() == before


@pytest.mark.parametrize("pk,action", [(0, "pay"), (2**63, "pay"), (1, "explode"), (1, "pay%00")])
def test_statement_actions_on_unknown_ids_and_actions_are_404(world, pk, action):
    before = snapshot()
    assert login(world["root"]).post(f"/finance/statements/{pk}/{action}/", {"bank_ref": "x"}).status_code == 404
    assert snapshot() == before


def test_statement_action_without_csrf_is_refused(world, approved):
    before = snapshot()
    response = login(world["root"], csrf=True).post(f"/finance/statements/{approved.pk}/pay/", {"bank_ref": "B1"})
    assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_statement_action_only_takes_post(world, approved, method):
    before = snapshot()
    assert getattr(login(world["root"]), method)(f"/finance/statements/{approved.pk}/pay/").status_code == 405
    assert snapshot() == before


@pytest.mark.parametrize("query", ["month=2026-13", "month=0000-01", "start=2026-02-30&end=2026-03-01",
                                   "start=2026-03-01&end=2026-02-01", "start=0001-01-01&end=9999-12-31",
                                   "month=%00", "day=2026-02-30", "day=99999-01-01"])
@pytest.mark.parametrize("page", ["/finance/", "/finance/reports/settlement.csv", "/finance/reports/payouts.xlsx",
                                  "/finance/reports/day-close.pdf"])
def test_finance_pages_take_bad_periods_without_500(world, query, page):
    assert login(world["root"]).get(f"{page}?{query}").status_code in (200, 302, 400, 404)


# --- settlement admin forms (days, periods, reasons) ------------------------------------------

@pytest.mark.parametrize("day", BAD_DATES + ["9999-12-31", "0001-01-01"])
def test_day_close_form_refuses_bad_days(world, day):
    from django.contrib import admin

    from settlement.models import DayClose

    urls = [u.pattern for u in admin.site._registry[DayClose].get_urls()]
    assert urls  # the day-close admin has its own form pages; junk on each must not 500
    for name in ("run", "close"):
        response = login(world["root"]).post(f"/admin/settlement/dayclose/{name}/", {"day": day})
        assert response.status_code < 500
