"""Batch imports (R-ISSUE-2) through the admin's upload page, with hostile files: formula
injection in names, GBK / GB18030 / UTF-8 with BOM, duplicates, a bad date, oversized and broken
files. A file is all or nothing: one bad row and no holder, card or journal is created."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from accounts.imports import MAX_BYTES
from accounts.models import Cardholder, CardType
from tests.accounts.helpers import at
from tests.factories import UnitFactory

from .conftest import login, snapshot

pytestmark = pytest.mark.django_db
URL = "/admin/accounts/issuebatch/import/"
HEADER = "学号/工号,姓名,类别,截止日期\n"


@pytest.fixture(autouse=True)
def unit(world):
    """The applying unit, made before any snapshot is taken."""
    return UnitFactory(code="HU1")


def upload(world, content: bytes, name: str = "名单.csv", *, client=None, unit=None):
    from accounts.models import Unit

    unit = unit or Unit.objects.get(code="HU1")
    client = client or login(world["staff"])
    with time_machine.travel(at(2026, 3, 15), tick=False):
        return client.post(URL, {"unit": unit.pk, "card_type": CardType.ORDINARY, "fee_payment": "cash",
                                 "file": SimpleUploadedFile(name, content)})


def refused(world, content: bytes, name: str = "名单.csv") -> list:
    """Upload; expect the page again with row errors (or a file error) and nothing applied."""
    before = snapshot()
    response = upload(world, content, name)
    assert response.status_code == 200, response.status_code
    assert snapshot() == before
    return response.context.get("row_errors") or []


def xlsx(rows) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
                                  "@SUM(1+1)*cmd|' /C calc'!A0", "=HYPERLINK(\"http://evil.example\",\"x\")"])
def test_formula_names_are_refused_per_row_and_nothing_applied(world, name):
    """The import refuses text a spreadsheet would run (it does not store it): the row is named."""
    content = (HEADER + "W001,张三,外聘人员,2027-06-30\n" + f'W002,"{name.replace(chr(34), chr(34) * 2)}",外聘人员,2027-06-30\n')
    errors = refused(world, content.encode("utf-8"))
    assert [n for n, _msgs in errors] == [3]
    assert "= + - @" in " ".join(errors[0][1])


def test_formula_cells_in_xlsx_are_not_evaluated_into_names(world):
    """A real formula cell has no cached value (data_only): the name is missing, the row refused."""
    content = xlsx([["number", "name", "category", "end_date"],
                    ["X1", "=1+1", "外聘人员", dt.date(2027, 1, 31)],
                    ["X2", "=HYPERLINK(\"http://evil.example\",\"x\")", "外聘人员", dt.date(2027, 1, 31)]])
    errors = refused(world, content, "list.xlsx")
    assert [n for n, _ in errors] == [2, 3]


@pytest.mark.parametrize("encoding,name", [("utf-8-sig", "张三"), ("gbk", "张三"), ("gb18030", "䶮𠮷"),
                                           ("utf-8", "䶮𠮷")])
def test_gbk_gb18030_and_utf8_with_bom_are_accepted_as_typed(world, encoding, name):
    content = (HEADER + f"W001,{name},外聘人员,2027-06-30\nW002,李四,contract_staff,2027/12/31\n").encode(encoding)
    response = upload(world, content)
    assert response.status_code == 302
    assert Cardholder.objects.get(number="W001").name == name
    assert Cardholder.objects.get(number="W002").name == "李四"


def test_duplicate_rows_are_refused_each_with_its_row_number(world):
    content = (HEADER + "W001,张三,外聘人员,2027-06-30\nW002,李四,外聘人员,2027-06-30\n"
               "W001,张三,外聘人员,2027-06-30\n").encode()
    errors = refused(world, content)
    assert [n for n, _ in errors] == [4]
    assert "W001" in errors[0][1][0] and "2" in errors[0][1][0]


@pytest.mark.parametrize("bad", ["2027-02-30", "30/06/2027", "2027-13-01", "明年", "99999-01-01", "0"])
def test_one_bad_date_rejects_the_whole_batch(world, bad):
    rows = [f"W{i:03d},人{i},外聘人员,2027-06-30" for i in range(1, 50)]
    rows.insert(25, f"W999,坏日期,外聘人员,{bad}")
    errors = refused(world, (HEADER + "\n".join(rows) + "\n").encode())
    assert [n for n, _ in errors] == [27]
    assert not Cardholder.objects.filter(number__startswith="W").exists()


@pytest.mark.parametrize("content,name", [
    (b"", "a.csv"), (b"\xff\xfe\x00\x00garbage", "a.csv"), (b"PK\x03\x04broken", "a.xlsx"), (b"MZ\x90\x00", "a.exe"),
    (HEADER.encode() + b"W1,x\n" * 10, "a.CSV.exe"), (b"a,b\n1,2\n", "a.csv"),
    ((HEADER + "W001,张三,外聘人员,2027-06-30\n").encode("utf-16"), "a.csv"),
])
def test_broken_and_wrong_files_are_refused_with_a_message(world, content, name):
    before = snapshot()
    response = upload(world, content, name)
    assert response.status_code == 200
    assert snapshot() == before


def test_an_oversized_file_is_refused_before_parsing(world):
    content = HEADER.encode() + b"W001,\xe5\xbc\xa0,x,2027-06-30\n" * (MAX_BYTES // 20)
    assert len(content) > MAX_BYTES
    before = snapshot()
    response = upload(world, content)
    assert response.status_code == 200 and snapshot() == before


def test_too_many_rows_are_refused(world):
    rows = "".join(f"W{i:05d},人,外聘人员,2027-06-30\n" for i in range(5001))
    refused(world, (HEADER + rows).encode())


def test_an_over_long_cell_is_a_row_error_not_a_500(world):
    """Python's csv refuses a field over 128 KiB; the page must say so, not crash."""
    refused(world, (HEADER + "W001," + "名" * 200_000 + ",外聘人员,2027-06-30\n").encode())


def test_a_nul_byte_in_a_name_is_a_row_error(world):
    errors = refused(world, (HEADER + "W001,张\x00三,外聘人员,2027-06-30\n").encode())
    assert [n for n, _ in errors] == [2]


def test_upload_without_csrf_is_refused(world):
    before = snapshot()
    response = upload(world, (HEADER + "W001,张三,外聘人员,2027-06-30\n").encode(), client=login(world["staff"], csrf=True))
    assert response.status_code == 403
    assert snapshot() == before


def test_anonymous_merchant_and_finance_cannot_upload(world):
    content = (HEADER + "W001,张三,外聘人员,2027-06-30\n").encode()
    before = snapshot()
    for user in (None, world["merchant_user"], world["finance"]):
        response = upload(world, content, client=login(user))
        assert response.status_code in (302, 403)
    assert snapshot() == before
