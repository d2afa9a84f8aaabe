"""Batch applications from units (R-ISSUE-2): CSV (UTF-8, UTF-8 with BOM, GBK) and XLSX files,
validated row by row; one bad row and nothing at all is applied."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from openpyxl import Workbook

from accounts import services
from accounts.errors import BusinessError, NotAllowed
from accounts.imports import BatchRejected, batch_file_parse
from accounts.models import AuditLog, Card, Cardholder, CardStatus, CardType, Category, IssueBatch, Journal
from tests.accounts.helpers import (
    at,
    balance,
    fast_password_hashing,  # noqa: F401
    formal_card,
    ordinary_card,
    snapshot,
    unit_agent,
)
from tests.factories import UnitFactory

pytestmark = pytest.mark.django_db

GOOD_CSV = (
    "学号/工号,姓名,类别,截止日期,银行卡号,备注\n"
    "W001,张三,外聘人员,2027-06-30,6222000000000001,食堂\n"
    "W002,李四,contract_staff,2027/12/31,,\n"
    "W003,王五,其他人员,20280115,,\n"
)


def _xlsx(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _issue(staff, content: bytes, filename: str, card_type=CardType.ORDINARY, unit=None):
    rows = batch_file_parse(content=content, filename=filename)
    return services.card_batch_issue(actor=staff, unit=unit or UnitFactory(), card_type=card_type, rows=rows,
                                     filename=filename)


# --- parsing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_in_utf8_utf8_bom_and_gbk_R_ISSUE_2(encoding):
    rows = batch_file_parse(content=GOOD_CSV.encode(encoding), filename="名单.CSV")
    assert [r["_row"] for r in rows] == [2, 3, 4]
    assert rows[0] == {"_row": 2, "number": "W001", "name": "张三", "category": "外聘人员", "end_date": "2027-06-30",
                       "bank_card_no": "6222000000000001", "label": "食堂"}
    assert rows[1]["name"] == "李四" and rows[2]["category"] == "其他人员"


def test_english_headers_and_unknown_columns_are_ignored():
    content = b"Number,NAME,category,shoe size\nE1,Ann,contract_staff,42\n"
    assert batch_file_parse(content=content, filename="a.csv") == [
        {"_row": 2, "number": "E1", "name": "Ann", "category": "contract_staff"}]


def test_xlsx_with_date_cells_R_ISSUE_2():
    content = _xlsx([
        ["工号", "姓名", "类别", "开始日期", "截止日期"],
        ["X001", "赵六", "外聘人员", dt.date(2026, 1, 1), dt.date(2027, 6, 30)],
        [None, None, None, None, None],  # a blank line is skipped but keeps the numbering
        [1002, "钱七", "contract_staff", None, "2027-07-01"],
    ])
    rows = batch_file_parse(content=content, filename="list.xlsx")
    assert [r["_row"] for r in rows] == [2, 4]
    assert rows[0]["end_date"].date() == dt.date(2027, 6, 30)  # openpyxl reads dates as datetimes
    assert rows[1]["number"] == "1002" and rows[1]["end_date"] == "2027-07-01"


def test_unreadable_files_are_refused():
    with pytest.raises(BusinessError, match=r"\.csv or \.xlsx"):
        batch_file_parse(content=b"x", filename="list.xls")
    with pytest.raises(BusinessError, match="empty"):
        batch_file_parse(content=b"", filename="list.csv")
    with pytest.raises(BusinessError, match="name the columns"):
        batch_file_parse(content=b"a,b\n1,2\n", filename="list.csv")
    with pytest.raises(BusinessError, match="not a readable XLSX"):
        batch_file_parse(content=b"PK\x03\x04 broken", filename="list.xlsx")


# --- all or nothing --------------------------------------------------------------------------------

def test_a_good_file_issues_every_card_and_charges_fees_in_one_journal_R_ISSUE_2_R_FEE_2(staff):
    unit = UnitFactory()
    with time_machine.travel(at(2026, 3, 15), tick=False):
        batch = _issue(staff, GOOD_CSV.encode("gbk"), "名单.csv", unit=unit)
    assert batch.rows == 3 and batch.filename == "名单.csv" and batch.unit == unit
    cards = list(batch.cards.order_by("holder__number"))
    assert [c.holder.number for c in cards] == ["W001", "W002", "W003"]
    assert all(c.card_type == CardType.ORDINARY and c.status == CardStatus.ACTIVE and c.unit == unit for c in cards)
    assert [c.valid_until for c in cards] == [dt.date(2027, 6, 30), dt.date(2027, 12, 31), dt.date(2028, 1, 15)]
    w1 = Cardholder.objects.get(number="W001")
    assert w1.category == Category.CONTRACT_STAFF and w1.unit == unit and w1.bank_card_no == "6222000000000001"
    assert cards[0].label == "食堂"
    journal = Journal.objects.get(kind="card_fee")
    assert journal.source == f"batch-fee:{batch.pk}"
    assert sorted(journal.postings.values_list("account__kind", "amount")) == [("bank", 9000), ("card_fee", -9000)]
    assert AuditLog.objects.filter(action="card_issue", actor=staff).count() == 3
    assert AuditLog.objects.filter(action="holder_create", actor=staff).count() == 3


def test_a_good_xlsx_file_is_issued_R_ISSUE_2(staff):
    content = _xlsx([["number", "name", "category", "end_date"],
                     ["X1", "甲", "外聘人员", dt.date(2027, 1, 31)],
                     ["X2", "乙", "非计划内学生", None]])
    with time_machine.travel(at(2026, 3, 15), tick=False):
        batch = _issue(staff, content, "units.xlsx")
    assert sorted(batch.cards.values_list("valid_until", flat=True)) == [dt.date(2027, 1, 31), dt.date(2031, 3, 15)]
    assert balance("card_fee") == 6000


def test_a_consumption_file_with_labels(staff):
    content = "备注\n进修 1\n实习 2\n".encode()
    batch = _issue(staff, content, "visitors.csv", card_type=CardType.CONSUMPTION)
    assert sorted(batch.cards.values_list("label", flat=True)) == ["实习 2", "进修 1"]
    assert batch.cards.filter(holder__isnull=True).count() == 2


def test_a_file_with_bad_rows_gives_per_row_errors_and_creates_nothing_R_ISSUE_2(staff):
    content = (
        "number,name,category,end_date,label\n"
        "B001,好人,contract_staff,2027-06-30,\n"       # row 2: fine on its own
        "B002,坏日期,contract_staff,2027-13-45,\n"     # row 3: bad date
        "B003,无类别,astronaut,2027-06-30,\n"          # row 4: unknown category
        "B001,重复,contract_staff,2027-06-30,\n"       # row 5: duplicate number
        "B005,老师,staff,2027-06-30,\n"                # row 6: formal-eligible
        "B006,=HYPERLINK(\"http://x\"),contract_staff,,\n"  # row 7: formula injection
        "B007,访客,进修,,\n"                          # row 8: short-term: consumption only
        "B008,注入,contract_staff,,@SUM(A1)\n"          # row 9: formula injection in a label
        "B009,,contract_staff,,\n"                     # row 10: no name
    ).encode("utf-8-sig")
    before = snapshot()
    with pytest.raises(BatchRejected) as exc:
        _issue(staff, content, "bad.csv")
    errors = dict(exc.value.row_errors)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert 'end_date: "2027-13-45" is not a date (YYYY-MM-DD)' in errors[3]
    assert 'category "astronaut" is unknown' in errors[4]
    assert "number B001 appears twice in the file (row 2)" in errors[5]
    assert any("eligible for a formal card" in m and "R-CARD-3" in m for m in errors[6])
    assert "name must not start with = + - @" in errors[7]
    assert any("consumption cards only" in m for m in errors[8])
    assert "label must not start with = + - @" in errors[9]
    assert "name is required" in errors[10]
    assert "nothing was applied" in str(exc.value)
    assert snapshot() == before  # no holder, no card, no journal, no batch, no audit


def test_an_xlsx_formula_or_formula_text_cell_is_refused_R_ISSUE_2(staff):
    wb = Workbook()
    ws = wb.active
    ws.append(["number", "name", "category"])
    ws.append(["F1", '=HYPERLINK("http://x","y")', "contract_staff"])  # a real formula: no value read
    ws.append(["F2", "ok", "contract_staff"])
    ws.cell(3, 2).value = "+cmd|' /C calc'!A0"
    ws.cell(3, 2).data_type = "s"  # text that a spreadsheet would run as a formula
    buf = io.BytesIO()
    wb.save(buf)
    before = snapshot()
    with pytest.raises(BatchRejected) as exc:
        _issue(staff, buf.getvalue(), "f.xlsx")
    errors = dict(exc.value.row_errors)
    assert sorted(errors) == [2, 3]
    assert "name must not start with = + - @" in errors[3]
    assert snapshot() == before


def test_rows_for_existing_holders_are_checked_R_CARD_3_R_CLOSE_4(staff, finance):
    card = ordinary_card(staff, number="E1", name="老员工")
    formal = formal_card(staff, number="S1", name="教师", category=Category.STAFF)
    closed = ordinary_card(staff, number="E2", name="离职")
    services.account_close(actor=finance, holder=closed.holder, reason="left")
    content = "number,name,category\nE1,老员工,contract_staff\nS1,教师,contract_staff\nE2,离职,contract_staff\nE1,别人,\n"
    before = snapshot()
    with pytest.raises(BatchRejected) as exc:
        _issue(staff, content.encode(), "again.csv")
    errors = dict(exc.value.row_errors)
    assert any("already has a live ordinary card" in m for m in errors[2])
    assert any("eligible for a formal card" in m for m in errors[3])
    assert any("closed account" in m for m in errors[4])
    assert any("belongs to 老员工" in m for m in errors[5])
    assert snapshot() == before
    assert card.holder.cards.count() == 1 and formal.holder.cards.count() == 1


def test_an_existing_holder_without_a_live_ordinary_card_gets_one(staff):
    card = ordinary_card(staff, number="R1", name="回来")
    Card.objects.filter(pk=card.pk).update(status=CardStatus.REPLACED)  # as if dead
    batch = _issue(staff, "number,name\nR1,回来\n".encode(), "r.csv")
    assert batch.cards.get().holder == card.holder
    assert Cardholder.objects.filter(number="R1").count() == 1


def test_an_end_date_already_past_is_a_row_error_R_CARD_7_R_CARD_9(staff):
    """Such a card would be issued active but already past its validity."""
    content = "number,name,category,start_date,end_date\nP1,过期,contract_staff,2020-01-01,2021-01-01\n"
    with time_machine.travel(at(2026, 3, 15), tick=False):
        before = snapshot()
        with pytest.raises(BatchRejected) as exc:
            _issue(staff, content.encode(), "old.csv")
    assert dict(exc.value.row_errors)[2] == ["end_date 2021-01-01 is already past"]
    assert snapshot() == before


def test_end_before_start_is_a_row_error(staff):
    content = "number,name,category,start_date,end_date\nQ1,倒序,contract_staff,2027-01-01,2026-12-31\n"
    with pytest.raises(BatchRejected) as exc:
        _issue(staff, content.encode(), "q.csv")
    assert "end_date is before start_date" in dict(exc.value.row_errors)[2]


@pytest.mark.parametrize("label", ["Contract or temporary staff", "外聘或临时人员", "外聘人员", "contract_staff"])
def test_category_by_code_english_label_or_chinese_label(staff, label):
    """Units write the category as the code, the English label or the Chinese label, whatever
    language was active when the import module was first loaded."""
    batch = _issue(staff, f"number,name,category\nL1,标签,{label}\n".encode(), "l.csv")
    assert batch.cards.get().holder.category == Category.CONTRACT_STAFF


def test_batch_import_needs_the_permission(finance, staff, make_user):
    unit = UnitFactory()
    agent = unit_agent(make_user, "agent1", unit, by=staff)
    before = snapshot()
    with pytest.raises(NotAllowed):
        services.card_batch_issue(actor=finance, unit=unit, card_type=CardType.CONSUMPTION, quantity=1)
    assert snapshot() == before
    batch = services.card_batch_issue(actor=agent, unit=unit, card_type=CardType.CONSUMPTION, quantity=1)
    assert batch.actor == agent and IssueBatch.objects.count() == 1
