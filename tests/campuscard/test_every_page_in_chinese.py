"""Every screen in Simplified Chinese: each role walks every page it can reach by following links
from its start pages (the admin, the desk, the finance desk, the merchant portal, the kiosk), in
the default language, and no page may show an English word or a raw code (active, frozen,
record:late_record, Lost ranges …). English stays one click away (the switch on every front)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from django.test import Client
from django.utils import timezone

from accounts import intake, services
from accounts.models import CardType
from tests.accounts.helpers import fast_password_hashing  # noqa: F401  (autouse)
from tests.desk.conftest import id_number

from .pagetext import crawl, english_words, visible_text

pytestmark = pytest.mark.django_db

# Words that stay as they are in Chinese: the language switch names English in English; Django's
# own translation of its multi-select help names the keys (Control, Command on a Mac).
ALLOWED = {"English", "Control", "Command", "Mac"}
# The header names an import file may use are given beside their Chinese names (截止日期（end_date）),
# so a clerk can match the column of a file the registry wrote in English.
IMPORT_COLUMNS = {"number", "name", "id_number", "category", "entry", "unit", "start_date", "end_date",
                  "graduation_year", "phone", "bank_card_no", "photo", "label"}
# Words third-party code writes where no catalogue reaches: django-axes's objects call themselves
# "Access Log for …" and keep the browser's "<unknown>"; Django's delete page lists a many-to-many
# row as "Group_permissions object (3)".
ALLOWED_ON = {"/admin/axes/": {"Access", "Log", "for", "unknown", "Accept", "Attempt"},
              "/delete/": {"object", "relationship"}}
SKIP = ("/logout", "/i18n/", "/api/", "/health/", ".csv", ".xlsx", ".pdf", ".zip", "/photo/", "/production",
        "/password/", "/kiosk/end/")
LIMIT = 700


@pytest.fixture
def world(make_user):
    from campuscard.api.services import api_client_create
    from merchants.models import MerchantKind
    from merchants.services import merchant_create, merchant_user_add
    from terminals.models import Terminal
    from terminals.services import terminal_add
    from tests.fronts.conftest import make_record

    root = make_user("root7", "super_admin", is_superuser=True)
    clerk = make_user("clerk7", "card_centre")
    cashier = make_user("cashier7", "cash_operator")
    finance = make_user("fin7", "finance")
    unit = services.unit_create(actor=root, code="CS", name="计算机学院")
    student = services.holder_create(actor=clerk, number="T2026001", name="林小雨", category="undergraduate",
                                      unit=unit, id_number=id_number(1), phone="13912345678",
                                      end_date=dt.date(timezone.now().year + 3, 7, 31))
    card = services.card_issue_formal(actor=clerk, holder=student)
    services.purse_deposit_cash(actor=cashier, holder=student, amount=20000, key=services.cash_deposit_key())
    services.card_report_loss(card=card, actor=clerk, reason="柜台挂失")
    new = services.card_replace(card=card, actor=clerk, reason="卡片遗失", fee_payment="cash")
    services.holder_set_kiosk_password(actor=clerk, holder=student, raw_password="246810")
    staff_holder = services.holder_create(actor=clerk, number="S1001", name="王老师", category="staff", unit=unit,
                                          id_number=id_number(2))
    frozen = services.card_issue_formal(actor=clerk, holder=staff_holder)
    services.card_freeze(card=frozen, actor=clerk, reason="卡库不平")
    services.card_batch_issue(actor=clerk, unit=unit, card_type=CardType.CONSUMPTION, quantity=1)
    canteen = merchant_create(actor=root, code="C01", name="第一食堂", kind=MerchantKind.DINING)
    terminal, _key = terminal_add(actor=root, merchant=canteen)
    Terminal.objects.filter(pk=terminal.pk).update(location="一楼1号窗口", last_seen_at=timezone.now())
    for seq, status, problems in ((1, "posted", []), (2, "exception", ["late_record"]), (3, "held", ["offline_unauthorised"])):
        record = make_record(terminal, canteen, seq, 1200, timezone.now() - dt.timedelta(hours=seq), status=status,
                             surcharge=120, problems=problems)
        record.__class__.objects.filter(pk=record.pk).update(card_no=new.card_no)
    from django.contrib.auth import get_user_model

    mer = get_user_model().objects.create_user(username="mer7", password="pw-mer7")
    merchant_user_add(actor=root, merchant=canteen, user=mer, role="contact")
    api_client_create(actor=root, name="图书馆系统", scopes=["cards:read", "holders:sync"])
    rows = [{"number": "T2026101", "name": "新生甲", "id_number": id_number(101), "category": "本科生", "unit": "CS",
             "graduation_year": str(timezone.now().year + 4)},
            {"number": "T2026102", "name": "新生乙", "id_number": "123", "category": "本科生", "unit": "CS"}]
    done = intake.intake_preview(actor=clerk, rows=rows, filename="新生.csv")
    intake.intake_apply(actor=clerk, intake=done)
    intake.intake_preview(actor=clerk, rows=rows[1:], filename="待改.csv")
    from settlement import services as settlement
    from settlement.models import Statement

    month_end = timezone.localdate().replace(day=1) - dt.timedelta(days=1)
    Statement.objects.create(merchant=canteen, period_start=month_end.replace(day=1), period_end=month_end, purchases=1,
                             consumption=1200, fee_base=1200, fee=6, net=1194, computed_at=timezone.now())
    services.holder_create(actor=clerk, number="G2022001", name="毕业生", category="undergraduate", unit=unit,
                           end_date=dt.date(timezone.now().year, 7, 31), bank_card_no="6222020000000000009")
    settlement.graduation_close(actor=root, graduation_year=timezone.now().year, reason="毕业生销户")
    # Money in: a bank transfer left reversing (nothing listens on port 9), a statement with a
    # difference, an online top-up waiting for payment.
    from django.test import override_settings

    from accounts.timeutil import business_day
    from moneyin.banklink import bank_transfer
    from moneyin.models import OnlineOrder
    from moneyin.reconcile import statement_import

    with override_settings(BANK_FRONT="127.0.0.1:9", BANK_TIMEOUT=0.2, BANK_REVERSAL_TRIES=1):
        bank_transfer(holder=student, amount=5000, bank_card_no="6222020000000000001")
    statement_import(actor=finance, day=business_day(), filename="bank.csv",
                     content=f"date,rrn,stan,bank_card,campus_account,campus_card,amount\n"
                             f"{business_day()},123456789012,000001,6222020000000000001,T2026001,,8.00\n")
    OnlineOrder.objects.create(out_trade_no="CC0000000000000001", holder=student, purse=student.purse, amount=1000,
                               code_url="http://127.0.0.1:9/pay/1")
    # Subsidies: one batch approved and partly claimed at a top-up point, one waiting for approval.
    from accounts import subsidies

    in_a_month = timezone.localdate() + dt.timedelta(days=30)
    batch = subsidies.subsidy_batch_file(actor=finance, reason="冬季伙食补助", expires_on=in_a_month, rows=[
        {"_row": 2, "number": "T2026001", "amount": "50"}, {"_row": 3, "number": "S1001", "amount": "20"}])
    subsidies.subsidy_batch_decide(actor=root, batch=batch, approve=True)
    subsidies.subsidies_claim(card=new, merchant_kind=MerchantKind.TOPUP, terminal_id=terminal.pk)
    subsidies.subsidy_batch_file(actor=finance, reason="助学补助", expires_on=in_a_month, merchant_kinds=["4"],
                                 rows=[{"_row": 2, "number": "S1001", "amount": "5.5"}])
    return {"root": root, "clerk": clerk, "cashier": cashier, "finance": finance, "merchant": mer,
            "student": student}


def walk(client, starts, found, seen_routes) -> None:
    for url, response in crawl(client, starts, skip=SKIP, limit=LIMIT):
        if response.status_code != 404:
            seen_routes.add(response.resolver_match.route)
        if response.status_code >= 500:
            found[f"HTTP {response.status_code}"].add(url)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        allowed = ALLOWED | IMPORT_COLUMNS
        for part, words in ALLOWED_ON.items():
            if part in url:
                allowed |= words
        for word in english_words(visible_text(response.content.decode()), allowed):
            found[word].add(url)


def report(found) -> str:
    return "\n".join(f"{w!r} on {len(urls)} page(s), e.g. {sorted(urls)[:3]}"
                     for w, urls in sorted(found.items(), key=lambda x: (-len(x[1]), x[0])))


ROLES = [
    ("root", ["/admin/", "/desk/", "/finance/"]),
    ("clerk", ["/desk/", "/admin/", "/desk/search/?q=林"]),
    ("cashier", ["/desk/", "/desk/cash/?period=day"]),
    ("finance", ["/finance/", "/desk/"]),
    ("merchant", ["/merchant/"]),
    ("anonymous", ["/kiosk/", "/kiosk/reset/", "/admin/login/", "/merchant/login/", "/no-such-page/"]),
]
# Routes no link leads to with GET: form posts, files, the API (JSON, not a screen), the language switch.
NOT_SCREENS = ("api/", "health/", "moneyin/notify/", "i18n/", "logout/", "/apply/", "/cancel/", "/refund/",
               "<str:action>", ".csv", ".zip", ".xlsx", "/photo/", "kiosk/end/", "/reported/", "<str:fmt>", "<slug:fmt>")


def test_every_page_every_role_reaches_reads_in_chinese(world):
    """Each role follows every link from its start pages (up to LIMIT pages each) in the default
    language; then every screen route of the fronts must have been seen by someone."""

    from tests.hostile.test_url_smoke import routes

    found: dict[str, set[str]] = defaultdict(set)
    seen: set[str] = set()
    for who, starts in ROLES:
        client = Client(raise_request_exception=False)
        if world.get(who) is not None:
            client.force_login(world[who])
        walk(client, starts, found, seen)
    kiosk = Client(raise_request_exception=False)
    kiosk.post("/kiosk/", {"number": "T2026001", "password": "246810"})
    walk(kiosk, ["/kiosk/cards/"], found, seen)
    assert not found, "untranslated words on the pages:\n" + report(found)
    screens = {r for r in routes(admin=False) if r and not any(x in r for x in NOT_SCREENS)}
    seen = {r.replace("^", "").replace("\\Z", "") for r in seen}
    missing = sorted(screens - seen)
    assert missing == [], f"fronts' pages no walk reached: {missing}"


def test_the_kiosk_of_a_signed_in_holder_reads_in_chinese(world, client):
    client.post("/kiosk/", {"number": "T2026001", "password": "246810"})
    page = client.get("/kiosk/cards/").content.decode()
    assert "林小雨" in page
    assert english_words(visible_text(page), ALLOWED) == []
    card_no = world["student"].cards.get(status="active").card_no
    confirm = client.get(f"/kiosk/cards/{card_no}/loss/").content.decode()
    client.post(f"/kiosk/cards/{card_no}/loss/")
    reported = client.get(f"/kiosk/cards/{card_no}/reported/").content.decode()
    for page in (confirm, reported):
        assert english_words(visible_text(page), ALLOWED) == []


def test_a_refusal_reads_in_chinese(world, client):
    client.force_login(world["merchant"])
    page = client.get("/desk/")
    assert page.status_code == 403 and english_words(visible_text(page.content.decode()), ALLOWED) == []


def test_english_is_one_click_away(world, client):
    client.force_login(world["clerk"])
    assert "校园卡业务柜台" in client.get("/desk/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/desk/"})
    page = client.get(f"/desk/holders/{world['student'].pk}/").content.decode()
    assert "Card centre desk" in page and "Report loss" in page and "校园卡业务柜台" not in page
