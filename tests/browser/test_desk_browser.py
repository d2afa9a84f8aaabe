"""The counter workbench in a real browser (Chromium through Playwright), as a clerk, a cashier and
a cardholder use it: a card issued to a new student, a loss reported and cancelled with the ID
presented, a card replaced and its receipt printed (R-ISSUE-1, R-LOSS-1, R-LOSS-2, R-REPLACE-1);
a cash deposit and the cashier's shift report; a freshmen intake with one bad row; a loss at a
portrait kiosk (1080×1920). One browser for the module (starting Chromium is the slow part).

Clicks are counted per task and written to var/test-artifacts/desk-clicks.txt; typing (or a
USB card reader typing the number) and Enter are not clicks. With DESK_DOCS_SCREENSHOTS=1 the
curated screenshots are also written, shrunk, to docs/screenshots/."""

from __future__ import annotations

import datetime as dt
import io
import os
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest
from django.test import Client
from PIL import Image, ImageDraw

from accounts import services
from accounts.models import AuditLog, Card, Cardholder, Intake, Journal
from accounts.timeutil import business_day
from tests.browser.conftest import ARTIFACTS, CHROMIUM
from tests.desk.conftest import id_number
from tests.factories import UnitFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CLICKS: dict[str, int] = defaultdict(int)
DESK = {"width": 1280, "height": 860}


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for the module; its event loop ends with the module (the gateway tests after
    it run their own)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "desk-clicks.txt").write_text("".join(f"{task}: {n}\n" for task, n in sorted(CLICKS.items())))


@pytest.fixture
def open_as(chromium, live_server):
    """open_as(user, viewport) -> a page signed in as `user` (the session of Django's test client)."""
    contexts = []

    def make(user=None, viewport=DESK):
        context = chromium.new_context(viewport=viewport, locale="zh-CN", accept_downloads=True)
        context.set_default_timeout(15000)
        if user is not None:
            client = Client()
            client.force_login(user)
            context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                                  "url": live_server.url}])
        contexts.append(context)
        page = context.new_page()
        page.base = live_server.url
        return page

    yield make
    for context in contexts:
        context.close()


def click(page, selector: str, task: str | None = None):
    """A click a person makes; counted for `task`."""
    if task:
        CLICKS[task] += 1
    page.click(selector)


def shot(page, name: str, *, docs: bool = False, full_page: bool = True, element: str | None = None):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"desk-{name}.png"
    if element:
        page.locator(element).screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=full_page)
    if docs and os.environ.get("DESK_DOCS_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        image = Image.open(path).convert("RGB")
        image.thumbnail((900, 1400))
        image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(DOCS / f"{name}.png", optimize=True)
    return path


def photo_bytes(text="林") -> bytes:
    image = Image.new("RGB", (360, 480), (214, 226, 240))
    draw = ImageDraw.Draw(image)
    draw.ellipse((110, 90, 250, 250), fill=(120, 144, 170))
    draw.rectangle((70, 280, 290, 480), fill=(120, 144, 170))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def people(make_user):
    clerk = make_user("clerk_b", "card_centre")
    cashier = make_user("cashier_b", "cash_operator")
    unit = UnitFactory(code="CS", name="计算机学院")
    year = business_day().year
    freshman = services.holder_create(
        actor=clerk, number="T2026001", name="林小雨", category="undergraduate", unit=unit, id_number=id_number(1),
        phone="13912345678", start_date=dt.date(year, 9, 1), end_date=dt.date(year + 4, 7, 31),
        bank_card_no="6222020000000000001")
    services.holder_photo_set(actor=clerk, holder=freshman, content=photo_bytes())
    return {"clerk": clerk, "cashier": cashier, "unit": unit, "freshman": Cardholder.objects.get(pk=freshman.pk)}


@pytest.fixture
def trade(make_user):
    """A canteen's purchases by hour today and yesterday (for the front page's chart and the
    holder's transactions); returns a function that gives one of them to a card."""
    from django.utils import timezone

    from accounts.timeutil import BUSINESS_TZ
    from merchants.models import MerchantKind
    from merchants.services import merchant_create
    from terminals.models import Terminal
    from terminals.services import terminal_add
    from tests.fronts.conftest import make_record

    root = make_user("root_b", "super_admin", is_superuser=True)
    canteen = merchant_create(actor=root, code="C01", name="第一食堂", kind=MerchantKind.DINING)
    terminal, _key = terminal_add(actor=root, merchant=canteen)
    Terminal.objects.filter(pk=terminal.pk).update(location="一楼3号窗口", last_seen_at=timezone.now())
    now = timezone.now().astimezone(BUSINESS_TZ)
    seq = 0
    for days, hours in ((1, (7, 7, 8, 11, 11, 11, 12, 12, 17, 17, 18)), (0, (7, 8, 8, 11, 11, 12, 12, 12, 12))):
        for i, hour in enumerate(hours):
            at = (now - dt.timedelta(days=days)).replace(hour=hour, minute=5 + i)
            if at < now:
                seq += 1
                make_record(terminal, canteen, seq, 800 + 50 * i, at, surcharge=120)

    def buy(card, amount=1250):
        nonlocal seq
        seq += 1
        record = make_record(terminal, canteen, seq, amount, timezone.now() - dt.timedelta(minutes=3), surcharge=150)
        type(record).objects.filter(pk=record.pk).update(card_no=card.card_no)

    return buy


def stub_print(page):
    # A function: Playwright would call a string that ends in one.
    page.evaluate("() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }")


def test_r_issue_1_r_loss_1_r_loss_2_r_replace_1_a_clerk_at_the_counter(open_as, people, trade):
    holder = people["freshman"]
    page = open_as(people["clerk"])
    page.goto(page.base + "/desk/")
    assert page.is_visible("#hourly") and page.inner_text("#tile-terminals b") == "1/1"
    shot(page, "home", docs=True)
    # Find the holder: type (or swipe) and Enter; one match opens the holder's page.
    page.fill("#q", "T2026001")
    page.press("#q", "Enter")
    page.wait_for_selector("#holder-name")
    assert "林小雨" in page.inner_text("#holder-name") and page.is_visible("#no-cards")
    shot(page, "holder-new-student", docs=True)

    # Issue: the button, the confirmation, the receipt.
    click(page, "#do-issue", "issue")
    page.wait_for_selector("#confirm-panel")
    assert "首张正式卡免费" in page.inner_text("#summary")
    shot(page, "issue-confirm", docs=True)
    click(page, "#confirm", "issue")
    page.wait_for_selector("#receipt")
    card = Card.objects.get(holder=holder)
    assert str(card.card_no) in page.inner_text("#receipt") and "发卡" in page.inner_text("#receipt")
    trade(card)  # lunch on the new card
    stub_print(page)
    click(page, "#print", "print receipt")
    assert page.evaluate("window.__printed") == 1
    shot(page, "issue-receipt", docs=True)
    click(page, "#back")

    # Loss at the counter: two clicks; every terminal refuses the card from now on.
    click(page, f"#card-{card.card_no} a[data-action=loss]", "loss")
    click(page, "#confirm", "loss")
    page.wait_for_selector("#receipt")
    card.refresh_from_db()
    assert card.status == "lost" and "挂失" in page.inner_text("#receipt")
    click(page, "#back")
    assert "已挂失" in page.inner_text(f"#card-{card.card_no} .status")
    assert "第一食堂" in page.inner_text("#records") and "14.00" in page.inner_text("#records")
    shot(page, "holder-card-lost", docs=True)

    # Cancel the loss: the ID presented is checked against the one on file (R-LOSS-2).
    click(page, f"#card-{card.card_no} a[data-action=unloss]", "unloss")
    page.fill("#id_id_number", id_number(2))
    click(page, "#confirm")  # the wrong ID: refused, nothing changes (not counted)
    page.wait_for_selector("#refused")
    assert "不符" in page.inner_text("#refused")
    shot(page, "unloss-wrong-id", docs=True)
    page.fill("#id_id_number", holder.id_number)
    click(page, "#confirm", "unloss")
    page.wait_for_selector("#receipt")
    card.refresh_from_db()
    assert card.status == "active"
    click(page, "#back")

    # Replace (damaged): the old card is dead for good, the new one carries the account.
    click(page, f"#card-{card.card_no} a[data-action=replace]", "replace")
    page.fill("#id_reason", "卡片损坏")
    assert "30.00" in page.inner_text("#summary")
    click(page, "#confirm", "replace")
    page.wait_for_selector("#receipt")
    new = Card.objects.get(replaces=card)
    receipt = page.inner_text("#receipt")
    assert str(new.card_no) in receipt and str(card.card_no) in receipt and "30.00" in receipt
    stub_print(page)
    click(page, "#print", "print receipt")
    assert page.evaluate("window.__printed") == 1
    page.emulate_media(media="print")
    assert not page.is_visible("header.top") and not page.is_visible("#print")  # only the slip prints
    shot(page, "replace-receipt-print", docs=True, element="#receipt")
    page.emulate_media(media="screen")
    card.refresh_from_db()
    assert card.status == "replaced" and new.status == "active"
    assert AuditLog.objects.filter(action="card_replace", card=new, actor=people["clerk"]).exists()


def test_a_cashier_takes_cash_and_the_shift_report_balances(open_as, people):
    holder = people["freshman"]
    card = services.card_issue_formal(actor=people["clerk"], holder=holder)
    page = open_as(people["cashier"])
    page.goto(page.base + "/desk/")
    page.fill("#q", str(card.card_no))  # a USB card reader types the number and Enter
    page.press("#q", "Enter")
    page.wait_for_selector("#holder-name")
    click(page, "#do-deposit", "deposit")
    page.fill("#id_amount", "100")
    shot(page, "deposit-confirm", docs=True)
    click(page, "#confirm", "deposit")
    page.wait_for_selector("#receipt")
    assert "100.00" in page.inner_text("#receipt")
    shot(page, "deposit-receipt", docs=True)
    # A second deposit confirmed with an impatient double click posts once.
    page.click("#back")
    page.click("#do-deposit")
    page.fill("#id_amount", "50.50")
    page.dblclick("#confirm")
    page.wait_for_selector("#receipt")
    assert Journal.objects.filter(kind="deposit").count() == 2
    click(page, "#nav-cash", "shift report")
    page.wait_for_selector("#cash-report")
    assert "150.50" in page.inner_text("#received") and "平衡" in page.inner_text("#balanced")
    shot(page, "cash-shift-report", docs=True)
    purse = holder.purse
    purse.refresh_from_db()
    assert purse.pending == 15050 and purse.account.balance == 15050


def intake_csv() -> bytes:
    year = business_day().year
    rows = [f"T2026{n:03d},新生{n},{id_number(n)},本科生,,CS,{year}-09-01,{year + 4},139000{n:05d},"
            for n in range(101, 108)]
    bad = id_number(108)
    rows.insert(3, f"T2026108,错号,{bad[:-1]}{'1' if bad[-1] != '1' else '2'},本科生,,CS,{year}-09-01,{year + 4},,")
    header = "学号,姓名,身份证号,人员类别,入学季,单位,入学日期,毕业年份,手机号,照片\n"
    return ("\ufeff" + header + "\n".join(rows) + "\n").encode()


def test_r_card_6_freshmen_intake_with_one_bad_row(open_as, people, monkeypatch, tmp_path):
    from accounts import intake

    monkeypatch.setattr(intake, "CHUNK", 2)  # four steps of the progress bar for seven rows
    photos = io.BytesIO()
    with zipfile.ZipFile(photos, "w") as z:
        z.writestr("T2026101.jpg", photo_bytes())
        z.writestr("T2026102.jpg", photo_bytes())
    (tmp_path / "新生2026.csv").write_bytes(intake_csv())
    (tmp_path / "photos.zip").write_bytes(photos.getvalue())
    page = open_as(people["clerk"])
    page.goto(page.base + "/desk/")
    click(page, "#nav-intake", "intake")
    page.set_input_files("#id_file", str(tmp_path / "新生2026.csv"))
    page.set_input_files("#id_photos", str(tmp_path / "photos.zip"))
    click(page, "#check", "intake")
    page.wait_for_selector("#counts")
    assert "共 8 行：新建 7，更新 0，无变化 0，有错误 1。" in page.inner_text("#counts")
    assert "校验码错误" in page.inner_text("#row-5") and page.is_visible("#bad-rows")
    assert not Cardholder.objects.filter(number__startswith="T20261").exists()  # nothing written yet
    shot(page, "intake-preview", docs=True)
    click(page, "#apply", "intake")
    page.wait_for_selector("#done")
    assert Cardholder.objects.filter(number__startswith="T20261").count() == 7
    assert not Cardholder.objects.filter(number="T2026108").exists()
    assert Intake.objects.get().status == "done"
    shot(page, "intake-done", docs=True)
    with page.expect_download() as info:
        click(page, "#production", "card-production file")
    archive = zipfile.ZipFile(info.value.path())
    assert "photos/T2026101.jpg" in archive.namelist()
    assert len(archive.read("cards.csv").decode("utf-8-sig").splitlines()) == 8  # header and seven holders


def test_r_loss_1_a_new_holder_sets_a_password_and_reports_a_loss_at_a_portrait_kiosk(open_as, people, trade):
    holder = people["freshman"]
    card = services.card_issue_formal(actor=people["clerk"], holder=holder)
    services.purse_deposit_cash(actor=people["cashier"], holder=holder, amount=8800, key=services.cash_deposit_key())
    trade(card)
    page = open_as(viewport={"width": 1080, "height": 1920})
    page.goto(page.base + "/kiosk/")
    keypad = page.locator("#keypad").bounding_box()
    assert keypad["y"] + keypad["height"] > 1920 * 0.85  # the keypad fills the portrait screen to the bottom
    assert page.evaluate("document.documentElement.scrollHeight") <= 1920  # and nothing runs off it
    shot(page, "kiosk-portrait-start", docs=True, full_page=False)
    # A new holder has no query password: ID number and the registered mobile number set one.
    click(page, "#forgot", "kiosk password")
    page.fill("#id_id_number", holder.id_number)
    page.fill("#id_phone", "13912345678")
    page.fill("#id_password1", "864200")
    page.fill("#id_password2", "864200")
    shot(page, "kiosk-portrait-reset", full_page=False)
    click(page, "#submit", "kiosk password")
    page.wait_for_selector("#password-set")
    # Sign in with the letters of the number on the on-screen keyboard.
    page.click("#id_number")
    for key in "T2026001":
        page.click(f'#keypad button[data-key="{key}"]')
    page.click("#next")
    for key in "864200":
        page.click(f'#keypad button[data-key="{key}"]')
    page.click("#submit")
    page.wait_for_selector("#balance")
    assert "¥88.00" in page.inner_text("#balance") and "第一食堂" in page.inner_text("#transactions")
    shot(page, "kiosk-portrait-cards", docs=True, full_page=False)
    click(page, f"#card-{card.card_no} a.report", "kiosk loss")
    assert "挂失" in page.inner_text("main") and "冻结" not in page.inner_text("main")
    click(page, "#confirm", "kiosk loss")
    page.wait_for_selector("#reported")
    assert "挂失生效时间" in page.inner_text("#reported") and "冻结" not in page.inner_text("main")
    shot(page, "kiosk-portrait-reported", docs=True, full_page=False)
    card.refresh_from_db()
    assert card.status == "lost"
    landscape = open_as(viewport={"width": 1920, "height": 1080})
    landscape.goto(landscape.base + "/kiosk/")
    box = landscape.locator("#keypad").bounding_box()
    assert box["x"] > 1920 / 3 and box["y"] + box["height"] > 1080 * 0.8  # beside the form, full height
    shot(landscape, "kiosk-landscape-start", docs=True, full_page=False)


def test_the_clicks_a_clerk_makes():
    """What each task costs at the counter (typing and Enter are not clicks), from the walks above."""
    tasks = ("issue", "loss", "unloss", "replace", "deposit", "print receipt")
    if not all(t in CLICKS for t in tasks):
        pytest.skip("the browser walks above did not all run")
    assert CLICKS["issue"] == 2 and CLICKS["loss"] == 2 and CLICKS["unloss"] == 2 and CLICKS["replace"] == 2
    assert CLICKS["deposit"] == 2 and CLICKS["print receipt"] == 2
