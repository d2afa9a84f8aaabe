"""The self-service kiosk (自助挂失) through Django's test client: sign-in, lockout, loss report
(R-LOSS-1), idle timeout and no enumeration of holders."""

from __future__ import annotations

import statistics
import time

import pytest
import time_machine
from django.utils import timezone

from accounts.kiosk import services as kiosk
from accounts.models import AuditLog, BlockListEntry, Card, Cardholder
from tests.accounts.helpers import consumption_card

from .conftest import KIOSK_PW

pytestmark = pytest.mark.django_db


def sign_in(client, number, password=KIOSK_PW):
    return client.post("/kiosk/", {"number": number, "password": password})


def test_start_page_is_chinese_by_default_and_says_consumption_cards_cannot_be_reported(client):
    """R-LOSS-1: the page explains why a consumption card cannot be reported."""
    page = client.get("/kiosk/").content.decode()
    assert "自助" in page
    assert "消费卡" in page and "不能挂失" in page
    assert 'data-key="0"' in page  # the on-screen keypad


def test_kiosk_is_english_on_switch(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/kiosk/"})
    page = client.get("/kiosk/").content.decode()
    assert "Query password" in page


def test_sign_in_shows_cards_and_balance_in_yuan(client, kiosk_holder):
    holder, card = kiosk_holder
    resp = sign_in(client, holder.number)
    assert resp.status_code == 302 and resp.url == "/kiosk/cards/"
    page = client.get("/kiosk/cards/").content.decode()
    assert "123.45" in page and str(card.card_no) in page and holder.name in page


def test_r_loss_1_report_loss_in_two_steps_blocks_card_and_shows_time(client, kiosk_holder):
    holder, card = kiosk_holder
    sign_in(client, holder.number)
    version_before = BlockListEntry.objects.order_by("-version").values_list("version", flat=True).first() or 0
    confirm = client.get(f"/kiosk/cards/{card.card_no}/loss/")  # tap 1
    assert confirm.status_code == 200
    resp = client.post(f"/kiosk/cards/{card.card_no}/loss/")  # tap 2
    assert resp.status_code == 302
    card.refresh_from_db()
    assert card.status == "lost"
    entry = BlockListEntry.objects.order_by("-version").first()
    assert entry.version > version_before and entry.card_no == card.card_no and entry.op == 1
    assert AuditLog.objects.filter(card=card, action="card_report_loss", channel="kiosk").exists()
    page = client.get(resp.url).content.decode()
    local = timezone.localtime(card.status_changed_at).strftime("%Y-%m-%d %H:%M:%S")
    assert local in page  # Asia/Shanghai time of the block


def test_r_loss_1_reporting_twice_is_refused_with_a_reason(client, kiosk_holder):
    holder, card = kiosk_holder
    sign_in(client, holder.number)
    client.post(f"/kiosk/cards/{card.card_no}/loss/")
    again = client.post(f"/kiosk/cards/{card.card_no}/loss/").content.decode()
    assert "已挂失" in again or "already" in again
    assert BlockListEntry.objects.filter(card_no=card.card_no).count() == 1


def test_r_loss_1_consumption_card_cannot_be_reported_by_the_service(staff, kiosk_holder):
    holder, _ = kiosk_holder
    card = consumption_card(staff)
    assert kiosk.kiosk_loss_reason(card) == "consumption"
    with pytest.raises(Card.DoesNotExist):  # not the holder's card at all
        kiosk.kiosk_loss_report(holder=holder, card_no=card.card_no)


def test_another_holders_card_is_404(client, kiosk_holder, staff):
    holder, _ = kiosk_holder
    from tests.accounts.helpers import formal_card

    other = formal_card(staff, number="2026000888")
    sign_in(client, holder.number)
    assert client.get(f"/kiosk/cards/{other.card_no}/loss/").status_code == 404
    assert client.post(f"/kiosk/cards/{other.card_no}/loss/").status_code == 404
    other.refresh_from_db()
    assert other.status == "active"


def test_unknown_number_and_wrong_password_get_the_same_answer(client, kiosk_holder):
    holder, _ = kiosk_holder
    wrong = sign_in(client, holder.number, "999999").content.decode()
    unknown = sign_in(client, "1999999999", "999999").content.decode()
    strip = lambda page: page.split('name="csrfmiddlewaretoken" value="')[0]  # noqa: E731
    assert strip(wrong) == strip(unknown)
    assert 'id="error"' in wrong


def test_five_wrong_passwords_lock_the_holder_for_15_minutes(client, kiosk_holder):
    holder, _ = kiosk_holder
    for _ in range(5):
        assert sign_in(client, holder.number, "000000").status_code == 200
    holder.refresh_from_db()
    assert holder.kiosk_locked_until is not None
    assert AuditLog.objects.filter(holder=holder, action="kiosk_locked").exists()
    assert sign_in(client, holder.number).status_code == 200  # even the right password: locked
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=14), tick=False):
        assert sign_in(client, holder.number).status_code == 200
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=16), tick=False):
        assert sign_in(client, holder.number).status_code == 302


def test_four_wrong_then_right_resets_the_count(client, kiosk_holder):
    holder, _ = kiosk_holder
    for _ in range(4):
        sign_in(client, holder.number, "000000")
    assert sign_in(client, holder.number).status_code == 302
    assert Cardholder.objects.get(pk=holder.pk).kiosk_failures == 0


def test_closed_holder_cannot_sign_in(client, kiosk_holder):
    """R-CLOSE-1: a closed account has no queries."""
    holder, _ = kiosk_holder
    Cardholder.objects.filter(pk=holder.pk).update(status="closed")
    assert sign_in(client, holder.number).status_code == 200


def test_idle_session_returns_to_start_and_forgets_the_holder(client, kiosk_holder, settings):
    holder, _ = kiosk_holder
    sign_in(client, holder.number)
    with time_machine.travel(time.time() + 61):
        resp = client.get("/kiosk/cards/")
    assert resp.status_code == 302 and resp.url.startswith("/kiosk/?timeout")
    assert client.get("/kiosk/cards/").status_code == 302  # forgotten, not just expired once
    assert "kiosk_holder" not in client.session


def test_start_screen_forgets_the_previous_person(client, kiosk_holder):
    holder, _ = kiosk_holder
    sign_in(client, holder.number)
    page = client.get("/kiosk/").content.decode()
    assert holder.name not in page and "123.45" not in page
    assert client.get("/kiosk/cards/").status_code == 302


def test_kiosk_pages_are_not_cached(client, kiosk_holder):
    holder, _ = kiosk_holder
    sign_in(client, holder.number)
    assert "no-store" in client.get("/kiosk/cards/")["Cache-Control"]


def test_kiosk_post_needs_csrf(kiosk_holder):
    from django.test import Client

    holder, _ = kiosk_holder
    resp = Client(enforce_csrf_checks=True).post("/kiosk/", {"number": holder.number, "password": KIOSK_PW})
    assert resp.status_code == 403


def test_unknown_number_costs_a_password_hash_like_a_wrong_password(kiosk_holder, settings, staff):
    """No timing oracle: an unknown number does the same hashing work as a wrong password."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    holder, _ = kiosk_holder
    from accounts import services

    services.holder_set_kiosk_password(actor=staff, holder=holder, raw_password=KIOSK_PW)

    def took(number):
        t = time.perf_counter()
        assert kiosk.kiosk_authenticate(number=number, password="111111") is None
        return time.perf_counter() - t

    wrong = statistics.median(took(holder.number) for _ in range(3))
    Cardholder.objects.filter(pk=holder.pk).update(kiosk_failures=0)
    unknown = statistics.median(took("1999999999") for _ in range(3))
    assert 0.5 < unknown / wrong < 2.0, (unknown, wrong)
