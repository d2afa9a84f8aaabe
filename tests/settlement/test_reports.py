"""Reports finance downloads (部门结算报表 U§22, daily close, payout list): opened and checked
against the ledger."""

import csv
import io
import os

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


# --- PDFs carry their font and signature lines; XLSX numbers are numbers (issue 10) -------------

STANDARD_14 = {"/Helvetica", "/Helvetica-Bold", "/Times-Roman", "/Courier", "/Symbol", "/ZapfDingbats"}


def pdf_fonts(data: bytes) -> dict[str, bool]:
    """Every font a PDF's pages use -> whether its program is embedded (FontFile, FontFile2 or FontFile3)."""
    fonts = {}
    for page in PdfReader(io.BytesIO(data)).pages:
        for ref in page["/Resources"].get("/Font", {}).values():
            font = ref.get_object()
            desc = font.get("/FontDescriptor")
            if desc is None and "/DescendantFonts" in font:
                desc = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
            desc = desc.get_object() if desc is not None else {}
            fonts[str(font.get("/BaseFont"))] = any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    return fonts


@pytest.fixture
def embedded_font():
    """The TrueType CJK font the PDFs embed (`make fonts` installs it); CI must have it."""
    if reports.cjk_font_file() is None:
        if os.environ.get("CI"):
            pytest.fail("no TrueType CJK font: `make fonts` should have installed fonts-wqy-microhei")
        pytest.skip("no TrueType CJK font installed (`make fonts`): PDFs fall back to STSong-Light")


def _every_pdf(day) -> dict[str, bytes]:
    from settlement.finance.files import payout_table
    from settlement.portal.files import statement_file

    st = Statement.objects.filter(kind="merchant").first()
    return {
        "settlement": reports.settlement_report_pdf(period_start=day, period_end=day),
        "day close": reports.day_close_report(day=day, fmt="pdf"),
        "payouts": reports.table_pdf(payout_table(period_start=day, period_end=day)),
        "statement": statement_file(statement=st, fmt="pdf"),
    }


def test_report_pdfs_embed_their_chinese_font_and_the_text_extracts(settled, embedded_font):
    for name, data in _every_pdf(settled).items():
        fonts = pdf_fonts(data)
        others = {f: embedded for f, embedded in fonts.items() if f not in STANDARD_14}
        assert others and all(others.values()), (name, fonts)  # subset-embedded (FontFile2), no CID STSong
        assert not any("STSong" in f for f in fonts), name
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
        want = {"settlement": "部门结算报表", "day close": "对帐日结报表"}.get(name, "商户")
        assert want in text, name  # the Chinese text extracts (the subset carries its ToUnicode map)


def test_report_pdfs_carry_signature_lines_with_the_date(settled):
    for name, data in _every_pdf(settled).items():
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
        for word in ("制表", "审核", "负责人", "日期", "打印时间"):
            assert word in text, (name, word)


def test_r_day_1_day_close_report_carries_the_trial_balance(settled):
    """The day-close report (PDF, XLSX) has the 试算平衡表 whose totals balance."""
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(reports.day_close_report(day=settled, fmt="pdf"))).pages)
    assert "试算平衡表" in text and "借贷平衡 ✓" in text
    ws = load_workbook(io.BytesIO(reports.day_close_report(day=settled, fmt="xlsx"))).active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(rows) if r[0] and str(r[0]).startswith("试算平衡表"))
    total = next(r for r in rows[start:] if r[0] == "合计")
    assert total[1] == total[2] and total[3] == total[4] and total[5] == total[6] and total[3] > 0


def _money_cells(ws, header_row: int, money_headers) -> list:
    headers = [c.value for c in ws[header_row]]
    cols = [i + 1 for i, h in enumerate(headers) if h in money_headers]
    assert cols
    cells = []
    for row in ws.iter_rows(min_row=header_row + 1):
        if row[0].value is None or (isinstance(row[0].value, str) and not row[1].value and row[0].value != "合计"):
            break  # the notes under the table
        cells += [row[c - 1] for c in cols]
    return cells


def test_xlsx_amounts_are_numbers_in_yuan_with_two_decimals_and_days_are_dates(settled, client, merchants,
                                                                                admin_user):
    from decimal import Decimal

    from settlement.portal.files import statement_file

    ws = load_workbook(io.BytesIO(reports.settlement_report_xlsx(period_start=settled, period_end=settled))).active
    cells = _money_cells(ws, 2, {"结算消费额(元)", "管理费(元)", "应付净额(元)", "商户退款(元)"})
    assert cells and all(isinstance(c.value, (int, float, Decimal)) and c.data_type == "n" for c in cells)
    assert all(c.number_format.endswith("0.00") for c in cells)
    counts = [row[2].value for row in ws.iter_rows(min_row=3) if row[0].value not in (None, "合计") and row[1].value]
    assert counts and all(isinstance(n, int) for n in counts)  # 消费笔数: whole numbers, not text

    st = Statement.objects.get(merchant=merchants[MerchantKind.RETAIL])
    ws = load_workbook(io.BytesIO(statement_file(statement=st, fmt="xlsx"))).active
    day_row = next(r for r in ws.iter_rows(min_row=3) if r[0].is_date)
    assert day_row[0].value.date() == settled and day_row[0].number_format == "yyyy-mm-dd"
    assert isinstance(day_row[1].value, int) and day_row[2].data_type == "n" and round(day_row[2].value * 100) == 4567
    assert day_row[2].number_format.endswith("0.00")
