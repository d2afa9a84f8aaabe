"""Fixtures for the hostile-input tests: one small world with every kind of login (anonymous,
merchant user, card-centre staff, finance, super admin, API token), a kiosk holder, terminals
with keys and a statement waiting for finance, plus a snapshot of everything a refused request
must leave as it was."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import Card, Cardholder, LedgerAccount, Purse
from tests.accounts.helpers import fast_password_hashing, formal_card, fund  # noqa: F401 (autouse)

KIOSK_PW = "246810"
OUR_APPS = ("accounts", "merchants", "terminals", "settlement", "campuscard")
# Rows that a refused request may legitimately touch without changing any fact.
VOLATILE = {"terminals.Terminal": ("last_seen_at",)}


def snapshot() -> dict:
    """Row counts of every table of ours, every balance, every card and holder state and every
    terminal key: a refused request changes none of them."""
    from terminals.models import Terminal

    counts = {m._meta.label: m.objects.count() for a in OUR_APPS for m in apps.get_app_config(a).get_models()}
    return {
        "counts": counts,
        "balances": list(LedgerAccount.objects.order_by("pk").values_list("pk", "balance")),
        "purses": list(Purse.objects.order_by("pk").values_list("pk", "pending", "card_balance")),
        "cards": list(Card.objects.order_by("pk").values_list("pk", "status", "valid_until")),
        "holders": list(Cardholder.objects.order_by("pk").values_list("pk", "status", "name", "end_date")),
        "keys": list(Terminal.objects.order_by("pk").values_list("pk", "key", "status")),
    }


def csrf_free(html: str) -> str:
    """A page without the per-request CSRF token, so two answers can be compared byte for byte."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken" value=""', html)


@pytest.fixture
def world(make_user):
    """Everyone and everything a hostile request could aim at."""
    from campuscard.api.services import api_client_create
    from merchants.models import MerchantKind
    from merchants.services import merchant_create, merchant_user_add
    from terminals.services import terminal_add

    root = make_user("h_root", "super_admin", is_superuser=True)
    staff = make_user("h_staff", "card_centre")
    finance = make_user("h_fin", "finance")
    merchant = merchant_create(actor=root, code="MH", name="商户H", kind=MerchantKind.RETAIL)
    terminal, key = terminal_add(actor=root, merchant=merchant)
    merchant_login = get_user_model().objects.create_user(username="h_mer", password="pw-h_mer")
    merchant_user_add(actor=root, merchant=merchant, user=merchant_login, role="contact")
    card = formal_card(staff, number="2026000999")
    fund(card, 12345, staff)
    from accounts import services

    services.holder_set_kiosk_password(actor=staff, holder=card.holder, raw_password=KIOSK_PW)
    _client, token = api_client_create(actor=root, name="hostile", scopes=["cards:read", "revenue:read",
                                                                           "settlements:read"])
    return {
        "root": root, "staff": staff, "finance": finance, "merchant": merchant,
        "merchant_user": get_user_model().objects.get(pk=merchant_login.pk),
        "terminal": terminal, "key": key, "card": card, "holder": card.holder, "token": token,
    }


def login(user=None, *, csrf: bool = False, token: str | None = None) -> Client:
    """A test client that shows a 500 as a 500 instead of raising, logged in as `user`."""
    extra = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
    client = Client(enforce_csrf_checks=csrf, raise_request_exception=False, **extra)
    if user is not None:
        client.force_login(user)
    return client


def roles(world) -> dict:
    """name -> (user, api token) for every kind of caller."""
    return {
        "anonymous": (None, None),
        "merchant": (world["merchant_user"], None),
        "staff": (world["staff"], None),
        "finance": (world["finance"], None),
        "root": (world["root"], None),
        "api": (None, world["token"]),
    }

