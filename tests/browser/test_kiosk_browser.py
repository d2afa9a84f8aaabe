"""The kiosk in a real browser: on-screen keypad, loss report in two taps (R-LOSS-1), and the
idle return to the start screen."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import BlockListEntry, Card
from tests.accounts.helpers import formal_card, fund
from tests.terminals.conftest import admin_user, gateway, make_terminal, merchants, vterm  # noqa: F401

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


def test_r_loss_1_r_term_3_kiosk_loss_reaches_a_connected_terminal(page, holder_card, gateway, vterm, shot):  # noqa: F811
    """The whole path: a holder reports the card lost at the kiosk in the browser, and a simulated
    terminal connected to the real TCP gateway receives the block as a push (R-TERM-3)."""
    import asyncio
    import threading
    import time

    card = holder_card
    vt = vterm()
    ready, result = threading.Event(), {}

    async def terminal():
        await vt.connect("127.0.0.1", gateway.port)
        await vt.sync_blocklist()
        vt.push_event.clear()
        ready.set()
        # Wait for the push that carries this card (an earlier push may arrive first).
        deadline = time.monotonic() + 20
        while card.card_no not in vt.blocked:
            await asyncio.wait_for(vt.push_event.wait(), max(deadline - time.monotonic(), 0.01))
            vt.push_event.clear()
        result["pushed_at"] = time.monotonic()
        await vt.sync_blocklist()  # confirm the version, as a real terminal does
        await vt.close()

    # The terminal runs on its own event loop, in its own thread, as a separate device would.
    thread = threading.Thread(target=lambda: result.setdefault("error", _run(terminal())), daemon=True)
    thread.start()
    assert ready.wait(15), "the virtual terminal did not sign in"
    assert card.card_no not in vt.blocked
    sign_in(page, "20260042", PW)
    page.click(f"#card-{card.card_no} a.report")
    page.click("#confirm")
    page.wait_for_selector("#reported")
    tapped = time.monotonic()
    thread.join(25)
    assert result.get("error") is None, result["error"]
    assert card.card_no in vt.blocked
    assert result["pushed_at"] - tapped < 2.0
    shot(page, "pushed")
    from terminals.models import Terminal

    assert Terminal.objects.get(pk=vt.terminal_id).blocklist_version == vt.blocklist_version


def _run(coro):
    try:
        asyncio_run(coro)
    except Exception as exc:  # reported to the test thread
        return repr(exc)
    return None


def asyncio_run(coro):
    import asyncio

    return asyncio.run(coro)
