"""Merchant-bound API tokens cannot read cards at all (issue 10, "Merchant-bound API tokens").

Chosen over "only cards used at the merchant": a card's status and its holder's number are the
holder's; a canteen could follow a student's card, and card numbers are consecutive. A merchant's
integration reads its own revenue and settlements (campuscard.api.models.MERCHANT_SCOPES)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.errors import BusinessError
from campuscard.api.models import ApiClient
from campuscard.api.services import api_client_create
from merchants.models import MerchantKind
from merchants.services import merchant_create
from tests.accounts.helpers import fast_password_hashing, formal_card  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(superuser):
    return merchant_create(actor=superuser, code="MT", name="超市T", kind=MerchantKind.RETAIL)


def api(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_merchant_token_with_card_scopes_cannot_be_made_by_service_or_admin(superuser, shop, client):
    for scopes in (["cards:read"], ["revenue:read", "cards:read"], ["cards:functions"]):
        with pytest.raises(BusinessError):
            api_client_create(actor=superuser, name="pos-" + "-".join(scopes), scopes=scopes, merchant=shop)
    client.force_login(superuser)
    resp = client.post("/admin/campuscard/apiclient/add/", {"name": "pos", "scopes": ["cards:read", "revenue:read"],
                                                            "merchant": shop.pk, "active": "on"})
    assert resp.status_code == 200 and resp.context["adminform"].form.errors  # the form says why
    assert not ApiClient.objects.filter(name="pos").exists()
    # Nor by changing a client that was made without the binding, or without the scope.
    bound, _token = api_client_create(actor=superuser, name="pos", scopes=["revenue:read"], merchant=shop)
    resp = client.post(f"/admin/campuscard/apiclient/{bound.pk}/change/",
                       {"name": "pos", "scopes": ["revenue:read", "cards:read"], "merchant": shop.pk, "active": "on"})
    assert resp.status_code == 200
    free, _token = api_client_create(actor=superuser, name="library", scopes=["cards:read"])
    client.post(f"/admin/campuscard/apiclient/{free.pk}/change/",
                {"name": "library", "scopes": ["cards:read"], "merchant": shop.pk, "active": "on"})
    assert ApiClient.objects.get(pk=bound.pk).scopes == ["revenue:read"]
    assert ApiClient.objects.get(pk=free.pk).merchant_id is None


def test_a_merchant_token_made_before_the_rule_reads_no_card(superuser, shop, staff):
    """A client stored with cards:read and a merchant (as the admin's change form allowed before):
    403 on every card endpoint, even for a card used at its merchant; its merchant scopes still work."""
    card = formal_card(staff)
    client, token = api_client_create(actor=superuser, name="old-pos", scopes=["revenue:read"], merchant=shop)
    ApiClient.objects.filter(pk=client.pk).update(scopes=["cards:read", "cards:functions", "revenue:read"])
    bound = api(token)
    assert bound.get(f"/api/v1/cards/{card.card_no}/").status_code == 403
    assert bound.get(f"/api/v1/holders/{card.holder.number}/cards/").status_code == 403
    assert bound.post(f"/api/v1/cards/{card.card_no}/functions/", {"function": "library", "enabled": True,
                                                                  "reason": "x"}, format="json").status_code == 403
    assert bound.get("/api/v1/merchants/MT/revenue/").status_code == 200
    _c, free = api_client_create(actor=superuser, name="library", scopes=["cards:read"])
    assert api(free).get(f"/api/v1/cards/{card.card_no}/").status_code == 200
