"""Reports finance downloads (部门结算报表 U§22, daily close, payout list): opened and checked
against the ledger."""

import csv
import io

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from accounts.models import CardType, LedgerAccount
from merchants.models import MerchantKind
from settlement import reports, services
from settlement.models import Statement

from .conftest import after_midnight

pytestmark = pytest.mark.django_db


@pytest.fixture
def settled(till, funded_card, today, travel, merchants, admin_user, finance2):
    dining, retail = till(MerchantKind.DINING), till(MerchantKind.RETAIL)
    anon = funded_card(20000, card_type=CardType.CONSUMPTION)
    dining.card(anon)
    dining.send([dining.purchase(anon, 1000, 150), dining.purchase(anon, 2000, 300)])
    formal = retail.card(funded_card(20000))
    retail.send([retail.purchase(formal, 4567)])
    travel(after_midnight(today))
    services.day_close(day=today)
    services.settlement_compute(period_start=today, period_end=today)
    st = Statement.objects.get(merchant=merchants[MerchantKind.RETAIL])
    start, _ = services.selectors.application_window(today)
    services.statement_apply(actor=admin_user, statement=st, today=start)
    services.statement_check(actor=admin_user, statement=st)
    services.statement_approve(actor=finance2, statement=st)
    return today


def _payables():
    return sum(LedgerAccount.objects.filter(kind="merchant").values_list("balance", flat=True))


def test_r_set_3_department_settlement_report_xlsx_totals_match_the_ledger(settled):
    data = reports.settlement_report_xlsx(period_start=settled, period_end=settled)
    ws = load_workbook(io.BytesIO(data)).active
    assert "部门结算报表" in ws["A1"].value
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    total = next(r for r in rows if r[0] == "合计")
    merchant_rows = [r for r in rows if r[0] not in ("合计", "-") and r[1]]
    consumption = sum(round(r[3] * 100) for r in merchant_rows)
    assert consumption == round(total[3] * 100) - 450  # the catering surcharge row is in the total too
    assert consumption == _payables()  # nothing paid yet: payables hold exactly the consumption
    assert round(total[8] * 100) == services.management_fee(3000) + services.management_fee(4567)


def test_r_set_3_department_settlement_report_pdf_renders_chinese(settled):
    data = reports.settlement_report_pdf(period_start=settled, period_end=settled)
    assert data.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "部门结算报表" in text and "合计" in text
    assert "80.17" in text  # 30.00 + 45.67 yuan of merchant consumption + 4.50 catering surcharge


def test_csv_is_utf8_with_bom_and_escapes_formulas(settled):
    data = reports.settlement_report_csv(period_start=settled, period_end=settled)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1][0] == "商户编号"
    assert reports.csv_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)" and reports.csv_safe("@x") == "'@x"
    assert reports.csv_safe("-12.50") == "-12.50" and reports.csv_safe("+1") == "'+1"


def test_r_day_1_daily_close_report_and_payout_list(settled):
    for fmt in ("xlsx", "pdf", "csv"):
        assert reports.day_close_report(day=settled, fmt=fmt)
    rows = list(csv.reader(io.StringIO(reports.day_close_report(day=settled, fmt="csv").decode("utf-8-sig"))))
    total = next(r for r in rows if r and r[0] == "合计")
    # 消费额 (charged) = 代收搭伙能源费 (catering, R-SUR-1) + 结算消费额 (the merchants') + 暂挂金额
    assert (total[3], total[4], total[5], total[6]) == ("80.17", "4.50", "75.67", "0.00")
    payout = list(csv.reader(io.StringIO(reports.payout_list(fmt="csv").decode("utf-8-sig"))))
    assert payout[2][2] == "45.44"  # 45.67 less the 0.23 fee (0.22835 → 0.23)
    wb = load_workbook(io.BytesIO(reports.payout_list(fmt="xlsx")))
    assert wb.active["C3"].value == pytest.approx(45.44)
