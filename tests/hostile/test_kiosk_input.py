"""The kiosk's loss report (R-LOSS-1) under hostile input: another holder's card, numbers out of
range, wrong methods, no CSRF token, no session. Refused, and no card changes state."""

from __future__ import annotations

import pytest

from accounts.models import Card

from .conftest import KIOSK_PW, login, snapshot

pytestmark = pytest.mark.django_db


def signed_in(world, *, csrf=False):
    client = login(csrf=csrf)
    if csrf:  # fetch the form's token as a browser would
        client.get("/kiosk/")
        token = client.cookies["csrftoken"].value
        client.post("/kiosk/", {"number": world["holder"].number, "password": KIOSK_PW, "csrfmiddlewaretoken": token})
    else:
        client.post("/kiosk/", {"number": world["holder"].number, "password": KIOSK_PW})
    assert client.get("/kiosk/cards/").status_code == 200
    return client


@pytest.mark.parametrize("card_no", ["0", "2147483648", "9223372036854775808", "99999999999999999999999"])
def test_loss_of_a_card_number_out_of_range_is_404(world, card_no):
    before = snapshot()
    client = signed_in(world)
    assert client.get(f"/kiosk/cards/{card_no}/loss/").status_code == 404
    assert client.post(f"/kiosk/cards/{card_no}/loss/").status_code == 404
    assert client.get(f"/kiosk/cards/{card_no}/reported/").status_code == 404
    counts = snapshot()
    assert counts["cards"] == before["cards"] and counts["counts"]["accounts.AuditLog"] == before["counts"]["accounts.AuditLog"]


def test_another_holders_card_cannot_be_reported(world):
    from tests.accounts.helpers import formal_card

    other = formal_card(world["staff"], number="2026000444")
    client = signed_in(world)
    assert client.post(f"/kiosk/cards/{other.card_no}/loss/").status_code == 404
    assert Card.objects.get(pk=other.pk).status == "active"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_loss_takes_only_get_and_post(world, method):
    client = signed_in(world)
    card = world["card"]
    assert getattr(client, method)(f"/kiosk/cards/{card.card_no}/loss/").status_code == 405
    assert Card.objects.get(pk=card.pk).status == "active"


def test_loss_without_csrf_token_is_refused(world):
    client = signed_in(world, csrf=True)
    card = world["card"]
    assert client.post(f"/kiosk/cards/{card.card_no}/loss/").status_code == 403
    assert Card.objects.get(pk=card.pk).status == "active"


def test_loss_without_a_session_goes_back_to_the_start(world):
    card = world["card"]
    response = login().post(f"/kiosk/cards/{card.card_no}/loss/")
    assert response.status_code == 302 and "/kiosk/" in response["Location"]
    assert Card.objects.get(pk=card.pk).status == "active"
