"""The kiosk for every holder: letters in staff/student numbers (imported holders such as
T2026001), sign-in by ID number, balance and last transactions, and a query password set with
the ID number and the registered mobile number (new holders have none until then)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts import services
from accounts.kiosk import services as kiosk
from accounts.models import AuditLog, Cardholder
from tests.desk.conftest import id_number
from tests.factories import UnitFactory

from .conftest import make_record

pytestmark = pytest.mark.django_db
PW = "864200"


@pytest.fixture
def imported(staff):
    """An imported holder with a letter in the number, a card, money, a phone and no password."""
    holder = services.holder_create(actor=staff, number="T2026001", name="林小雨", category="staff",
                                    unit=UnitFactory(), id_number=id_number(1), phone="13912345678")
    card = services.card_issue_formal(actor=staff, holder=holder)
    services.purse_deposit_cash(actor=_cashier(), holder=holder, amount=5000, key=services.cash_deposit_key())
    return Cardholder.objects.get(pk=holder.pk), card


def _cashier():
    from tests.conftest import _user

    return _user("kiosk-cashier", "cash_operator")


def reset(client, id_no, phone, pw=PW, pw2=None):
    return client.post("/kiosk/reset/", {"id_number": id_no, "phone": phone, "password1": pw, "password2": pw2 or pw})


def test_a_new_holder_sets_the_query_password_with_id_and_phone_then_signs_in(client, imported):
    holder, _card = imported
    assert not holder.kiosk_password  # nobody set one yet
    done = reset(client, holder.id_number.lower(), "139 1234 5678")
    assert done.status_code == 302 and done["Location"] == "/kiosk/?password_set=1"
    assert AuditLog.objects.filter(action="kiosk_password_reset", holder=holder, channel="kiosk").exists()
    assert "查询密码已设置" in client.get(done["Location"]).content.decode()
    signed = client.post("/kiosk/", {"number": "T2026001", "password": PW})
    assert signed.status_code == 302 and signed["Location"] == "/kiosk/cards/"


def test_sign_in_by_id_number_or_lowercase_number(client, imported):
    holder, _card = imported
    services.holder_set_kiosk_password(actor=_cashier_with_change(), holder=holder, raw_password=PW)
    assert client.post("/kiosk/", {"number": holder.id_number, "password": PW})["Location"] == "/kiosk/cards/"
    client.get("/kiosk/end/")
    assert client.post("/kiosk/", {"number": "t2026001", "password": PW})["Location"] == "/kiosk/cards/"


def _cashier_with_change():
    from tests.conftest import _user

    return _user("kiosk-staff", "card_centre")


def test_a_wrong_phone_an_unknown_id_and_no_phone_on_file_get_one_answer(client, imported, staff):
    holder, _card = imported
    wrong = reset(client, holder.id_number, "13900000000").content.decode()
    unknown = reset(client, id_number(555), "13912345678").content.decode()
    Cardholder.objects.filter(pk=holder.pk).update(phone="")
    no_phone = reset(client, holder.id_number, "13912345678").content.decode()
    message = "身份证号与手机号码不符合持卡人档案"
    assert message in wrong and message in unknown and message in no_phone
    assert not Cardholder.objects.get(pk=holder.pk).kiosk_password


def test_five_wrong_phones_lock_the_holder(client, imported):
    holder, _card = imported
    for _ in range(5):
        reset(client, holder.id_number, "13900000000")
    holder.refresh_from_db()
    assert holder.kiosk_locked_until and holder.kiosk_locked_until > timezone.now()
    assert not kiosk.kiosk_password_reset(id_number=holder.id_number, phone="13912345678", new_password=PW)


def test_a_password_that_is_not_6_to_12_digits_is_refused(client, imported):
    holder, _card = imported
    page = reset(client, holder.id_number, "13912345678", pw="12ab56").content.decode()
    assert "6 至 12 位数字" in page
    page = reset(client, holder.id_number, "13912345678", pw="123456", pw2="654321").content.decode()
    assert "两次输入的密码不一致" in page
    assert not Cardholder.objects.get(pk=holder.pk).kiosk_password


def test_cards_page_shows_balance_pending_and_last_transactions(client, imported, staff):
    holder, card = imported
    from merchants.models import MerchantKind
    from merchants.services import merchant_create
    from terminals.services import terminal_add

    root = _root()
    canteen = merchant_create(actor=root, code="K1", name="第一食堂", kind=MerchantKind.DINING)
    terminal, _key = terminal_add(actor=root, merchant=canteen)
    make_record(terminal, canteen, 1, 1200, timezone.now() - dt.timedelta(minutes=5), surcharge=100).__class__.objects \
        .update(card_no=card.card_no)
    services.holder_set_kiosk_password(actor=staff, holder=holder, raw_password=PW)
    client.post("/kiosk/", {"number": "T2026001", "password": PW})
    page = client.get("/kiosk/cards/").content.decode()
    assert 'id="balance">¥50.00' in page and "待到充值点圈存" in page  # the counter deposit waits for the card
    assert "第一食堂" in page and "-13.00" in page and "+50.00" in page  # a purchase and the deposit
    assert "挂失此卡" in page


def _root():
    from tests.conftest import _user

    return _user("kiosk-root", "super_admin", is_superuser=True)


def test_the_loss_words_are_loss_words(client, imported, staff):
    """R-LOSS-1: a loss is 挂失; 冻结 (freeze) is something else (R-FREEZE-1)."""
    holder, card = imported
    services.holder_set_kiosk_password(actor=staff, holder=holder, raw_password=PW)
    client.post("/kiosk/", {"number": "T2026001", "password": PW})
    confirm = client.get(f"/kiosk/cards/{card.card_no}/loss/").content.decode()
    client.post(f"/kiosk/cards/{card.card_no}/loss/")
    reported = client.get(f"/kiosk/cards/{card.card_no}/reported/").content.decode()
    for page in (confirm, reported):
        assert "挂失" in page and "冻结" not in page
    assert "挂失生效时间" in reported


def test_the_keyboard_has_letters_for_the_number_and_the_page_fills_the_screen(client):
    page = client.get("/kiosk/").content.decode()
    assert 'data-key="T"' in page and 'data-key="X"' in page and 'data-keypad="alnum"' in page
    assert "min-height:100dvh" in page and "orientation: landscape" in page
    assert 'pattern="[0-9]*"' not in page.split('id="id_number"')[1].split(">")[0]  # the number takes letters
