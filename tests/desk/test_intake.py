"""Freshmen and staff intake: a file (or the registry's API call) is checked row by row and shown
before anything is written; rows with errors are never written; the good ones become holders in
chunks; photos come along; the card printer gets its production file."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from PIL import Image

from accounts import intake, services
from accounts.models import AuditLog, Cardholder, Intake
from tests.accounts.helpers import snapshot

from .conftest import desk_client, id_number

pytestmark = pytest.mark.django_db

HEADER = "学号,姓名,身份证号,人员类别,入学季,单位,入学日期,毕业年份,手机号,照片\n"


def csv_file(rows: list[str]) -> io.BytesIO:
    f = io.BytesIO(("\ufeff" + HEADER + "\n".join(rows) + "\n").encode())
    f.name = "freshmen-2026.csv"
    return f


def jpeg(color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 400), color).save(out, "JPEG")
    return out.getvalue()


def photos_zip(names) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in names:
            z.writestr(f"photos/{name}", jpeg())
    buf.seek(0)
    buf.name = "photos.zip"
    return buf


GOOD = [
    f"T2026101,王小明,{id_number(101)},本科生,,CS,2026-09-01,2030,13900000101,",
    f"T2026102,李小红,{id_number(102)},undergraduate,,计算机学院,2026-09-01,2030,,",
    f"M2026103,赵研,{id_number(103)},硕士研究生,秋季,CS,2026-09-01,2029,,",
]
BAD = f"T2026104,钱错,{id_number(104)[:-1]}{'0' if id_number(104)[-1] != '0' else '1'},本科生,,CS,2026-09-01,2030,,"


def test_r_card_6_preview_writes_nothing_and_names_the_bad_row(client, clerk, unit):
    desk_client(client, clerk)
    before = snapshot()
    response = client.post("/desk/intake/", {"file": csv_file(GOOD + [BAD])})
    batch = Intake.objects.get()
    assert response["Location"] == f"/desk/intake/{batch.pk}/"
    assert not Cardholder.objects.filter(number__startswith="T20261").exists()  # previewed only
    assert snapshot()["holders"] == before["holders"]
    page = client.get(response["Location"]).content.decode()
    assert "共 4 行：新建 3，更新 0，无变化 0，有错误 1。" in page
    assert "校验码错误" in page and 'id="row-5"' in page
    bad = batch.lines.get(row_no=5)
    assert bad.action == "error" and "T2026104" == bad.data["number"]
    # The graduation year gives the normal graduation date of R-CARD-6.
    assert batch.lines.get(row_no=2).data["end_date"] == "2030-07-31"
    assert batch.lines.get(row_no=4).data["end_date"] == "2029-09-30"  # autumn-entry master's


def test_apply_writes_the_good_rows_in_chunks_and_never_the_bad_one(client, clerk, unit):
    desk_client(client, clerk)
    client.post("/desk/intake/", {"file": csv_file(GOOD + [BAD])})
    batch = Intake.objects.get()
    first = batch_step(client, batch, limit=2)
    assert first["status"] == "applying" and first["done"] == 2 and first["total"] == 3
    last = json.loads(client.post(f"/desk/intake/{batch.pk}/apply/", HTTP_ACCEPT="application/json").content)
    assert last == {"status": "done", "done": 3, "total": 3, "created": 3, "updated": 0, "bad": 1}
    assert set(Cardholder.objects.filter(number__endswith="10" + "1").values_list("name", flat=True)) == {"王小明"}
    assert not Cardholder.objects.filter(number="T2026104").exists()
    assert AuditLog.objects.filter(action="holder_create", actor=clerk).count() == 3
    again = json.loads(client.post(f"/desk/intake/{batch.pk}/apply/", HTTP_ACCEPT="application/json").content)
    assert again["done"] == 3 and Cardholder.objects.filter(number__startswith="T20261").count() == 2  # nothing twice


def batch_step(client, batch, limit):
    from accounts.intake import intake_apply

    intake_apply(actor=Intake.objects.get(pk=batch.pk).actor, intake=batch, limit=limit)
    batch.refresh_from_db()
    return {"status": batch.status, "done": batch.rows_done, "total": batch.rows_total - batch.rows_bad}


def test_a_second_intake_updates_what_changed_and_keeps_what_it_leaves_out(client, clerk, unit):
    desk_client(client, clerk)
    client.post("/desk/intake/", {"file": csv_file(GOOD)})
    client.post(f"/desk/intake/{Intake.objects.get().pk}/apply/")
    changed = [GOOD[0].replace("王小明", "王晓明").replace("13900000101", ""), GOOD[1]]
    client.post("/desk/intake/", {"file": csv_file(changed)})
    second = Intake.objects.order_by("-id").first()
    assert [line.action for line in second.lines.order_by("row_no")] == ["update", "same"]
    assert second.lines.get(row_no=2).changes == ["name"]
    client.post(f"/desk/intake/{second.pk}/apply/")
    holder = Cardholder.objects.get(number="T2026101")
    assert holder.name == "王晓明" and holder.phone == "13900000101"  # a blank phone keeps the one on file


def test_photos_from_a_zip_and_the_production_file(client, clerk, unit):
    desk_client(client, clerk)
    client.post("/desk/intake/", {"file": csv_file(GOOD), "photos": photos_zip(["T2026101.jpg", "m2026103.JPG"])})
    batch = Intake.objects.get()
    assert [bool(line.photo) for line in batch.lines.order_by("row_no")] == [True, False, True]
    client.post(f"/desk/intake/{batch.pk}/apply/")
    holder = Cardholder.objects.get(number="T2026101")
    assert client.get(f"/desk/holders/{holder.pk}/photo/")["Content-Type"] == "image/jpeg"
    services.card_issue_formal(actor=clerk, holder=Cardholder.objects.get(number="T2026102"))  # has a card now
    response = client.get(f"/desk/intake/{batch.pk}/production.zip")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    table = archive.read("cards.csv").decode("utf-8-sig").splitlines()
    assert table[0] == "学号/工号,姓名,人员类别,单位,有效期至,照片"
    assert [line.split(",")[0] for line in table[1:]] == ["M2026103", "T2026101"]  # T2026102 has its card
    assert "T2026101,王小明,本科生（国家计划内）,计算机学院,2030-07-31,photos/T2026101.jpg" in table
    assert set(archive.namelist()) == {"cards.csv", "photos/T2026101.jpg", "photos/M2026103.jpg"}


@pytest.mark.parametrize("row, message", [
    (f"X1,张三,{id_number(5)},外聘人员,,CS,,2030,,", "单位批量申请"),  # not a formal category (R-ISSUE-2)
    (f"X1,张三,{id_number(5)},硕士研究生,,CS,,2030,,", "入学季"),  # a postgraduate needs the entry season
    (f"X1,张三,{id_number(5)},本科生,,CS,,,,", "预计毕业日期"),  # a student needs the graduation date
    (f"X1,张三,{id_number(5)},本科生,,NOPE,,2030,,", "不是校园卡中心登记的单位"),
    (f"X1,张三,{id_number(5)},本科生,,CS,,2030,1234,", "不是大陆手机号码"),
    (f"X 1,张三,{id_number(5)},本科生,,CS,,2030,,", "学工号为"),
    (f"X1,=cmd,{id_number(5)},本科生,,CS,,2030,,", "不得以"),
    ("X1,张三,,本科生,,CS,,2030,,", "必填"),
    (f"X1,张三,{id_number(5)},本科生,,CS,,2020,,", "已过"),
    (f"X1,张三,{id_number(5)},本科生,,CS,,2030,,nophoto.jpg", "照片压缩包中没有照片"),
])
def test_each_bad_row_gets_a_clear_reason(client, clerk, unit, row, message):
    desk_client(client, clerk)
    client.post("/desk/intake/", {"file": csv_file([row])})
    line = Intake.objects.get().lines.get()
    assert line.action == "error" and message in " ".join(line.errors), line.errors


def test_the_same_id_number_twice_and_one_on_file_are_refused(client, clerk, unit, freshman):
    desk_client(client, clerk)
    rows = [f"Y1,甲,{id_number(9)},本科生,,CS,,2030,,", f"Y2,乙,{id_number(9)},本科生,,CS,,2030,,",
            f"Y3,丙,{freshman.id_number},本科生,,CS,,2030,,"]
    client.post("/desk/intake/", {"file": csv_file(rows)})
    lines = list(Intake.objects.get().lines.order_by("row_no"))
    assert [line.action for line in lines] == ["create", "error", "error"]
    assert "重复出现" in lines[1].errors[0] and "T2026001" in lines[2].errors[0]


def test_a_broken_file_changes_nothing_and_says_why(client, clerk):
    desk_client(client, clerk)
    bad = io.BytesIO(b"PK\x03\x04 not really a workbook")
    bad.name = "x.xlsx"
    page = client.post("/desk/intake/", {"file": bad}).content.decode()
    assert "不是可读取的 XLSX" in page and not Intake.objects.exists()
    junk = io.BytesIO(b"not a zip")
    junk.name = "p.zip"
    page = client.post("/desk/intake/", {"file": csv_file(GOOD), "photos": junk}).content.decode()
    assert "ZIP" in page and not Intake.objects.exists()


def test_a_cancelled_intake_writes_nothing(client, clerk, unit):
    desk_client(client, clerk)
    client.post("/desk/intake/", {"file": csv_file(GOOD)})
    batch = Intake.objects.get()
    client.post(f"/desk/intake/{batch.pk}/cancel/")
    assert client.post(f"/desk/intake/{batch.pk}/apply/").status_code == 302
    assert not Cardholder.objects.filter(number="T2026101").exists()


def test_only_the_intake_role_may_import(client, cashier, unit):
    desk_client(client, cashier)
    assert client.get("/desk/intake/").status_code == 403
    assert client.post("/desk/intake/", {"file": csv_file(GOOD)}).status_code == 403
    with pytest.raises(services.NotAllowed):
        intake.intake_preview(actor=cashier, rows=[{"number": "A1"}])


# --- the registry's API ----------------------------------------------------------------------

@pytest.fixture
def registry(make_user):
    from campuscard.api.services import api_client_create

    root = make_user("root-api", "super_admin", is_superuser=True)
    _client, token = api_client_create(actor=root, name="学籍系统", scopes=["holders:sync"])
    return token


def api_rows():
    return [{"number": "T2026201", "name": "孙一", "id_number": id_number(201), "category": "undergraduate",
             "unit": "CS", "graduation_year": "2030", "phone": "13900000201"},
            {"number": "T2026202", "name": "孙二", "id_number": "123", "category": "undergraduate", "unit": "CS",
             "graduation_year": "2030"}]


def test_the_registry_checks_then_sends_its_rows(client, registry, unit):
    auth = {"HTTP_AUTHORIZATION": f"Token {registry}"}
    check = client.post("/api/v1/holders/intake/", {"rows": api_rows()}, content_type="application/json", **auth)
    body = check.json()
    assert check.status_code == 200 and body["status"] == "preview" and body["create"] == 1
    assert body["errors"][0]["row"] == 2 and body["errors"][0]["number"] == "T2026202"
    assert not Cardholder.objects.filter(number="T2026201").exists()
    sent = client.post("/api/v1/holders/intake/", {"rows": api_rows(), "apply": True},
                       content_type="application/json", **auth).json()
    assert sent["status"] == "done" and sent["created"] == 1
    holder = Cardholder.objects.get(number="T2026201")
    assert holder.phone == "13900000201" and str(holder.end_date) == "2030-07-31"
    entry = AuditLog.objects.get(action="holder_create", holder=holder)
    assert entry.actor.first_name == "学籍系统"  # audited under the client's own service login


def test_the_registry_needs_its_scope(client, make_user, unit):
    from campuscard.api.services import api_client_create

    root = make_user("root-api2", "super_admin", is_superuser=True)
    _c, token = api_client_create(actor=root, name="只读", scopes=["cards:read"])
    response = client.post("/api/v1/holders/intake/", {"rows": api_rows(), "apply": True},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 403 and not Intake.objects.exists()


def test_a_photo_that_only_looks_right_fails_its_row_when_written(client, clerk, unit):
    """The preview reads a photo's header only (thousands of them in one request); the photo is
    decoded when its row is written, and a broken one stops that row alone."""
    desk_client(client, clerk)
    whole = jpeg()
    broken = whole[: len(whole) * 2 // 3]  # a JPEG header with the picture cut off
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("T2026101.jpg", broken)
        z.writestr("T2026102.jpg", jpeg())
    buf.seek(0)
    buf.name = "photos.zip"
    client.post("/desk/intake/", {"file": csv_file(GOOD[:2]), "photos": buf})
    batch = Intake.objects.get()
    assert [line.action for line in batch.lines.order_by("row_no")] == ["create", "create"]
    client.post(f"/desk/intake/{batch.pk}/apply/")
    batch.refresh_from_db()
    first, second = batch.lines.order_by("row_no")
    assert first.action == "error" and "JPEG" in first.errors[0] and not Cardholder.objects.filter(number="T2026101")
    assert second.applied and Cardholder.objects.get(number="T2026102").photo.name.endswith(".jpg")
    assert batch.status == "done" and batch.rows_bad == 1
