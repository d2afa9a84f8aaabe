"""The REST API: token per subsystem with its own scopes (R-SUB-1), and a merchant-bound token
never sees another merchant (R-MER-4)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import CardType
from campuscard.api.models import ApiClient
from campuscard.api.services import api_client_create
from tests.accounts.helpers import consumption_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(make_user):
    return make_user("api_root", "super_admin", is_superuser=True)


def client_for(root, scopes, merchant=None, name=None):
    client, token = api_client_create(actor=root, name=name or "-".join(scopes) + str(merchant or ""), scopes=scopes,
                                      merchant=merchant)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def test_no_token_is_401_and_bad_token_is_401(kiosk_holder):
    _, card = kiosk_holder
    assert APIClient().get(f"/api/v1/cards/{card.card_no}/").status_code == 401
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token nope")
    assert api.get(f"/api/v1/cards/{card.card_no}/").status_code == 401


def test_staff_session_is_not_an_api_login(client, staff, kiosk_holder):
    _, card = kiosk_holder
    client.force_login(staff)
    assert client.get(f"/api/v1/cards/{card.card_no}/").status_code == 401


def test_r_sub_1_card_status_by_number(root, kiosk_holder):
    holder, card = kiosk_holder
    api = client_for(root, ["cards:read"])
    data = api.get(f"/api/v1/cards/{card.card_no}/").json()
    assert data["status"] == "active" and data["usable"] is True and data["holder_number"] == holder.number
    assert data["card_type"] == CardType.FORMAL
    assert api.get("/api/v1/cards/4000000000/").status_code == 404


def test_r_card_4_consumption_card_has_no_holder(root, staff):
    card = consumption_card(staff)
    data = client_for(root, ["cards:read"]).get(f"/api/v1/cards/{card.card_no}/").json()
    assert data["holder_number"] is None


def test_holder_cards(root, kiosk_holder):
    holder, card = kiosk_holder
    data = client_for(root, ["cards:read"]).get(f"/api/v1/holders/{holder.number}/cards/").json()
    assert [c["card_no"] for c in data["cards"]] == [card.card_no]
    assert client_for(root, ["cards:read"], name="x").get("/api/v1/holders/nobody/cards/").status_code == 404


def test_scope_missing_is_403(root, kiosk_holder, two_merchants):
    holder, card = kiosk_holder
    api = client_for(root, ["revenue:read"])
    assert api.get(f"/api/v1/cards/{card.card_no}/").status_code == 403
    assert api.get(f"/api/v1/holders/{holder.number}/cards/").status_code == 403
    cards_only = client_for(root, ["cards:read"])
    assert cards_only.get("/api/v1/merchants/MA/revenue/").status_code == 403


def test_inactive_client_is_refused(root, kiosk_holder):
    _, card = kiosk_holder
    api = client_for(root, ["cards:read"])
    ApiClient.objects.update(active=False)
    assert api.get(f"/api/v1/cards/{card.card_no}/").status_code == 401


def test_token_is_stored_only_as_a_digest(root):
    client, token = api_client_create(actor=root, name="lib", scopes=["cards:read"])
    assert token not in (client.token_hash, client.token_prefix) and len(client.token_hash) == 64


def test_only_super_admin_creates_clients(staff):
    from accounts.errors import NotAllowed

    with pytest.raises(NotAllowed):
        api_client_create(actor=staff, name="x", scopes=["cards:read"])


def test_merchant_revenue_by_day_and_month_in_fen_and_yuan(root, two_merchants):
    """Dining revenue is the base price: board and energy fees are not the merchant's (R-SUR-1)."""
    import datetime as dt

    from accounts.timeutil import business_day

    api = client_for(root, ["revenue:read"])
    data = api.get("/api/v1/merchants/MA/revenue/").json()
    since = business_day() - dt.timedelta(days=29)
    expected = [r for r in two_merchants["A"]["records"] if r.business_day >= since]
    assert len(data["rows"]) == 30
    assert sum(r["count"] for r in data["rows"]) == len(expected)
    assert data["total_fen"] == sum(r.base_amount for r in expected)  # no surcharge
    assert all(r["amount_yuan"] == f"{r['amount_fen'] // 100}.{r['amount_fen'] % 100:02d}" for r in data["rows"])
    month = api.get("/api/v1/merchants/MA/revenue/?by=month&start=2000-01-01&end=2000-12-31").json()
    assert month["rows"] == [] and month["total_fen"] == 0
    month = api.get("/api/v1/merchants/MA/revenue/?by=month").json()
    assert month["by"] == "month" and month["total_fen"] == data["total_fen"]


def test_revenue_of_retail_includes_the_surcharge(root, two_merchants):
    """R-SUR-2: outside dining the whole charge is the merchant's."""
    api = client_for(root, ["revenue:read"])
    recs = [r for r in two_merchants["B"]["records"][:3]]
    data = api.get("/api/v1/merchants/MB/revenue/").json()
    assert data["total_fen"] >= sum(r.base_amount + r.surcharge for r in recs)


def test_bad_dates_are_400(root, two_merchants):
    api = client_for(root, ["revenue:read"])
    assert api.get("/api/v1/merchants/MA/revenue/?start=2026-02-01&end=2026-01-01").status_code == 400
    assert api.get("/api/v1/merchants/MA/revenue/?start=2020-01-01&end=2026-01-01").status_code == 400
    assert api.get("/api/v1/merchants/MA/revenue/?start=yesterday").status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/merchants/{code}/revenue/", "/api/v1/merchants/{code}/revenue/?by=month"])
def test_r_mer_4_merchant_token_gets_404_for_another_merchant(root, two_merchants, path):
    a = two_merchants["A"]["merchant"]
    api = client_for(root, ["revenue:read", "settlements:read"], merchant=a)
    assert api.get(path.format(code="MA")).status_code == 200
    other = api.get(path.format(code="MB"))
    missing = api.get(path.format(code="NOPE"))
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()


def test_every_api_endpoint_refuses_another_merchants_ids(root, two_merchants):
    """Every merchant-scoped route of the API, tried with merchant B's code by A's token: 403/404."""
    from django.urls import get_resolver

    a = two_merchants["A"]["merchant"]
    api = client_for(root, ["revenue:read", "settlements:read"], merchant=a)
    routes = [str(p.pattern) for p in get_resolver("campuscard.api.urls").url_patterns if "<str:code>" in str(p.pattern)]
    assert routes
    for route in routes:
        url = "/api/v1/" + route.replace("<str:code>", "MB")
        assert api.get(url).status_code in (403, 404), url


def test_schema_and_docs_page(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/cards/{card_no}/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    assert b"cdn" not in docs.content.lower()  # assets served by us (sidecar)
