"""The finance desk: statements to approve and pay, report downloads that open, the special
accounts; card-centre staff and merchants are kept out (roles of RULES.md)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission
from openpyxl import load_workbook

from accounts.models import CardType
from accounts.setup import role_group
from merchants.models import MerchantKind
from settlement import services
from settlement.models import Statement
from tests.settlement.conftest import after_midnight, till, today, travel  # noqa: F401
from tests.terminals.conftest import admin_user, funded_card, make_terminal, merchants, rates  # noqa: F401

pytestmark = pytest.mark.django_db

# What the finance role needs of settlement (to be granted by settlement's role setup).
FINANCE_PERMS = ["view_statement", "approve_statement", "pay_statement", "view_dayclose"]


@pytest.fixture
def finance_desk_user(make_user):
    group = role_group("finance")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="settlement", codename__in=FINANCE_PERMS))
    return make_user("fin_desk", "finance")


@pytest.fixture
def checked(till, funded_card, today, travel, merchants, admin_user):  # noqa: F811
    """A retail statement for `today`, applied and checked by the centre: finance's turn."""
    retail, dining = till(MerchantKind.RETAIL), till(MerchantKind.DINING)
    card = retail.card(funded_card(20000))
    retail.send([retail.purchase(card, 4567)])
    anon = dining.card(funded_card(5000, card_type=CardType.CONSUMPTION))
    dining.send([dining.purchase(anon, 1000, 150)])
    travel(after_midnight(today))
    services.day_close(day=today)
    services.settlement_compute(period_start=today, period_end=today)
    st = Statement.objects.get(merchant=merchants[MerchantKind.RETAIL])
    start, _ = services.selectors.application_window(today)
    services.statement_apply(actor=admin_user, statement=st, today=start)
    services.statement_check(actor=admin_user, statement=st)
    return st


def period(st):
    return f"start={st.period_start}&end={st.period_end}"


def test_finance_approves_and_records_the_payout(client, finance_desk_user, checked):
    client.force_login(finance_desk_user)
    page = client.get(f"/finance/?{period(checked)}").content.decode()
    assert f'id="statement-{checked.pk}"' in page and "45.67" in page
    client.post(f"/finance/statements/{checked.pk}/approve/")
    checked.refresh_from_db()
    assert checked.status == "approved"
    client.post(f"/finance/statements/{checked.pk}/pay/", {"bank_ref": "BANK-001"})
    checked.refresh_from_db()
    assert checked.status == "paid" and checked.bank_ref == "BANK-001"


def test_paying_without_a_bank_reference_is_refused_with_a_message(client, finance_desk_user, checked):
    client.force_login(finance_desk_user)
    client.post(f"/finance/statements/{checked.pk}/approve/")
    resp = client.post(f"/finance/statements/{checked.pk}/pay/", {"bank_ref": ""}, follow=True)
    checked.refresh_from_db()
    assert checked.status == "approved" and 'class="error"' in resp.content.decode()


def test_card_centre_staff_cannot_approve_payouts(client, staff, checked):
    """Roles: card-centre staff check statements but never approve or pay them."""
    client.force_login(staff)
    assert client.get("/finance/").status_code == 403
    assert client.post(f"/finance/statements/{checked.pk}/approve/").status_code == 403
    checked.refresh_from_db()
    assert checked.status == "checked"


def test_merchant_user_is_kept_out(client, checked, make_user):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username="m_x", password="pw")
    client.force_login(user)
    assert client.get("/finance/").status_code == 403


def test_settlement_report_downloads_open(client, finance_desk_user, checked):
    """R-SET-3: the department settlement report, as XLSX that openpyxl opens and PDF."""
    client.force_login(finance_desk_user)
    xlsx = client.get(f"/finance/reports/settlement.xlsx?{period(checked)}")
    assert xlsx.status_code == 200 and "attachment" in xlsx["Content-Disposition"]
    book = load_workbook(io.BytesIO(xlsx.content))
    cells = [str(c.value) for row in book.active.iter_rows() for c in row if c.value is not None]
    assert any("45.67" in c or c == "45.67" for c in cells) or any(c == "4567" for c in cells)
    pdf = client.get(f"/finance/reports/settlement.pdf?{period(checked)}")
    assert pdf.content.startswith(b"%PDF") and b"%%EOF" in pdf.content[-64:]
    assert client.get(f"/finance/reports/settlement.exe?{period(checked)}").status_code == 404


def test_daily_close_report_and_payout_list(client, finance_desk_user, checked, today):  # noqa: F811
    client.force_login(finance_desk_user)
    day = client.get(f"/finance/reports/day-close.xlsx?day={today}")
    assert day.status_code == 200
    load_workbook(io.BytesIO(day.content))
    not_closed = client.get(f"/finance/reports/day-close.xlsx?day={today.replace(year=today.year + 1)}")
    assert not_closed.status_code == 302
    payouts = client.get(f"/finance/reports/payouts.xlsx?{period(checked)}")
    load_workbook(io.BytesIO(payouts.content))


def test_special_accounts_show_fee_movements(client, finance_desk_user, staff):
    from tests.accounts.helpers import consumption_card

    consumption_card(staff)  # a 30.00 card fee (R-FEE-2, R-FEE-4)
    client.force_login(finance_desk_user)
    page = client.get("/finance/special-accounts/").content.decode()
    assert 'id="account-card_fee"' in page and "30.00" in page
