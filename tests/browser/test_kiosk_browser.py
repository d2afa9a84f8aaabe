"""The kiosk in a real browser: on-screen keypad, loss report in two taps (R-LOSS-1), and the
idle return to the start screen."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import BlockListEntry, Card
from tests.accounts.helpers import formal_card, fund

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PW = "135790"


@pytest.fixture
def holder_card(staff):
    card = formal_card(staff, number="20260042")
    fund(card, 8800, staff)
    services.holder_set_kiosk_password(actor=staff, holder=card.holder, raw_password=PW)
    return card


def tap_digits(page, digits: str):
    for d in digits:
        page.click(f'#keypad button[data-key="{d}"]')


def sign_in(page, number: str, password: str):
    page.goto(page.base + "/kiosk/")
    page.click("#id_number")
    tap_digits(page, number)
    page.click("#next")
    tap_digits(page, password)
    page.click("#submit")


def test_r_loss_1_kiosk_loss_report_in_the_browser(page, holder_card, shot):
    card = holder_card
    sign_in(page, "20260042", PW)
    page.wait_for_url("**/kiosk/cards/")
    assert "88.00" in page.inner_text("#balance")
    shot(page, "cards")
    before = BlockListEntry.objects.order_by("-version").values_list("version", flat=True).first() or 0
    page.click(f"#card-{card.card_no} a.report")  # tap 1
    page.click("#confirm")  # tap 2
    page.wait_for_selector("#reported")
    shot(page, "reported")
    card.refresh_from_db()
    assert card.status == "lost"
    from django.utils import timezone

    assert page.inner_text("#blocked-at") == timezone.localtime(card.status_changed_at).strftime("%Y-%m-%d %H:%M:%S")
    entry = BlockListEntry.objects.filter(card_no=card.card_no).order_by("-version").first()
    assert entry.version > before and entry.op == 1
    page.click("#finish")
    page.wait_for_url("**/kiosk/")
    assert "20260042" not in page.content()


def test_kiosk_wrong_password_says_the_same_as_unknown_number(page, holder_card, shot):
    sign_in(page, "20260042", "111111")
    wrong = page.inner_text("#error")
    sign_in(page, "99999999", "111111")
    assert page.inner_text("#error") == wrong
    shot(page, "error")


def test_kiosk_returns_to_start_when_idle_and_forgets_the_person(page, holder_card, settings, shot):
    settings.KIOSK_IDLE_SECONDS = 2
    sign_in(page, "20260042", PW)
    page.wait_for_url("**/kiosk/cards/")
    page.wait_for_url("**/kiosk/", timeout=10000)  # the page goes home by itself
    assert "88.00" not in page.content()
    page.go_back()
    page.wait_for_load_state()
    assert "88.00" not in page.content()  # Back shows no one's data: the server forgot them
    shot(page, "idle")
    assert Card.objects.get(pk=holder_card.pk).status == "active"
