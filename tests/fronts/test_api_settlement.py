"""API: a merchant's settlements (settlements:read; a merchant-bound token sees only its own,
R-MER-4) and a subsystem switching a card's functions (R-SUB-1, R-CARD-5), audited under the
client's name."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditLog, Card
from campuscard.api.models import ApiClient
from campuscard.api.services import api_client_create
from settlement.models import Statement
from tests.accounts.helpers import consumption_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(make_user):
    return make_user("api_root2", "super_admin", is_superuser=True)


def client_for(root, scopes, merchant=None, name=None):
    client, token = api_client_create(actor=root, name=name or "-".join(scopes) + str(merchant or ""), scopes=scopes,
                                      merchant=merchant)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    api.client_obj = client
    return api


@pytest.fixture
def statements(two_merchants):
    out = {}
    for label, net in (("A", 123456), ("B", 987654)):
        for month, status in ((1, Statement.Status.PAID), (2, Statement.Status.OPEN)):
            start = dt.date(2026, month, 1)
            end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
            out[(label, month)] = Statement.objects.create(
                merchant=two_merchants[label]["merchant"], period_start=start, period_end=end, purchases=3,
                consumption=net + 620, fee=620, net=net, status=status, computed_at=timezone.now())
    return out


def test_merchant_settlements_in_fen_and_yuan_newest_first(root, statements):
    data = client_for(root, ["settlements:read"]).get("/api/v1/merchants/MA/settlements/").json()
    assert data["merchant"] == "MA"
    assert [r["period_start"] for r in data["statements"]] == ["2026-02-01", "2026-01-01"]
    first = data["statements"][0]
    assert first["net_fen"] == 123456 and first["net_yuan"] == "1234.56" and first["fee_fen"] == 620
    assert first["status"] == "open"
    paid = client_for(root, ["settlements:read"], name="p").get("/api/v1/merchants/MA/settlements/?status=paid").json()
    assert [r["period_start"] for r in paid["statements"]] == ["2026-01-01"]


def test_settlements_need_their_scope(root, statements):
    assert client_for(root, ["revenue:read"]).get("/api/v1/merchants/MA/settlements/").status_code == 403
    assert client_for(root, ["settlements:read"], name="s").get(
        "/api/v1/merchants/MA/settlements/?status=bogus").status_code == 400


def test_r_mer_4_merchant_bound_token_sees_only_its_settlements(root, statements, two_merchants):
    api = client_for(root, ["settlements:read"], merchant=two_merchants["A"]["merchant"])
    own = api.get("/api/v1/merchants/MA/settlements/")
    assert own.status_code == 200 and {r["net_fen"] for r in own.json()["statements"]} == {123456}
    other, missing = api.get("/api/v1/merchants/MB/settlements/"), api.get("/api/v1/merchants/NOPE/settlements/")
    assert other.status_code == missing.status_code == 404 and other.json() == missing.json()


# --- R-SUB-1: a subsystem switches its function on a card -------------------------------------

def test_r_sub_1_library_switches_its_function_and_the_audit_names_the_client(root, kiosk_holder):
    _, card = kiosk_holder
    Card.objects.filter(pk=card.pk).update(functions=["access"])  # another subsystem's, must stay
    api = client_for(root, ["cards:functions"], name="图书馆系统")
    resp = api.post(f"/api/v1/cards/{card.card_no}/functions/", {"function": "library", "enabled": True,
                                                                 "reason": "借阅证开通"}, format="json")
    assert resp.status_code == 200 and resp.json() == {"card_no": card.card_no, "functions": ["access", "library"],
                                                       "changed": True}
    entry = AuditLog.objects.filter(action="card_functions", card=card).get()
    assert "图书馆系统" in entry.reason and entry.actor.username == f"api-client-{api.client_obj.pk}"
    assert entry.actor.first_name == "图书馆系统" and not entry.actor.has_usable_password()
    assert entry.data == {"old": ["access"], "new": ["access", "library"]}
    again = api.post(f"/api/v1/cards/{card.card_no}/functions/", {"function": "library", "enabled": True,
                                                                  "reason": "again"}, format="json").json()
    assert again["changed"] is False and AuditLog.objects.filter(action="card_functions").count() == 1
    off = api.post(f"/api/v1/cards/{card.card_no}/functions/", {"function": "library", "enabled": False,
                                                                "reason": "毕业"}, format="json").json()
    assert off["functions"] == ["access"]
    card.refresh_from_db()
    assert card.functions == ["access"]


def test_r_card_5_consumption_card_takes_no_function(root, staff):
    card = consumption_card(staff)
    resp = client_for(root, ["cards:functions"]).post(f"/api/v1/cards/{card.card_no}/functions/",
                                                      {"function": "library", "enabled": True, "reason": "x"},
                                                      format="json")
    assert resp.status_code == 400
    card.refresh_from_db()
    assert card.functions == []


def test_r_sub_1_switching_needs_the_scope_a_reason_and_a_real_card(root, kiosk_holder, two_merchants):
    _, card = kiosk_holder
    url = f"/api/v1/cards/{card.card_no}/functions/"
    body = {"function": "library", "enabled": True, "reason": "x"}
    assert client_for(root, ["cards:read"]).post(url, body, format="json").status_code == 403
    bound = client_for(root, ["settlements:read"], merchant=two_merchants["A"]["merchant"], name="bound")
    ApiClient.objects.filter(name="bound").update(scopes=["cards:functions"])  # as stored before the rule
    assert bound.post(url, body, format="json").status_code == 403  # a merchant's integration switches nothing
    api = client_for(root, ["cards:functions"], name="lib")
    assert api.post(url, {**body, "reason": ""}, format="json").status_code == 400
    assert api.post(url, {**body, "function": "Library; DROP"}, format="json").status_code == 400
    assert api.post("/api/v1/cards/4000000000/functions/", body, format="json").status_code == 404
    assert api.get(url).status_code == 405
    card.refresh_from_db()
    assert card.functions == [] and not AuditLog.objects.filter(action="card_functions").exists()


def test_the_service_login_of_a_client_cannot_sign_in(root, kiosk_holder, client):
    _, card = kiosk_holder
    api = client_for(root, ["cards:functions"], name="门禁")
    api.post(f"/api/v1/cards/{card.card_no}/functions/", {"function": "access", "enabled": True, "reason": "x"},
             format="json")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=f"api-client-{api.client_obj.pk}")
    assert not user.is_staff and not user.has_usable_password()
    assert set(user.get_all_permissions()) == {"accounts.change_card"}
    assert client.post("/admin/login/", {"username": user.username, "password": ""}).status_code == 200  # form again
