"""The REST API under hostile input: malformed and out-of-range path and query parameters, wrong
methods, broken tokens. Always a 4xx with a JSON body, never a 500, never a change (R-SUB-1)."""

from __future__ import annotations

import pytest

from .conftest import login, snapshot

pytestmark = pytest.mark.django_db


def api(world, token=None):
    return login(token=token or world["token"])


@pytest.mark.parametrize("path", [
    "/api/v1/holders/%00/cards/", "/api/v1/holders/a%00b/cards/", "/api/v1/merchants/%00/revenue/",
    "/api/v1/merchants/MH%00/revenue/",
])
def test_nul_in_a_path_parameter_is_404_not_500(world, path):
    """Regression: PostgreSQL refuses NUL in text (ValueError from psycopg) -> 500."""
    assert api(world).get(path).status_code == 404


@pytest.mark.parametrize("card_no", ["0", "2147483648", "9223372036854775808", "99999999999999999999999"])
def test_card_numbers_out_of_range_are_404(world, card_no):
    assert api(world).get(f"/api/v1/cards/{card_no}/").status_code == 404


@pytest.mark.parametrize("number", ["x" * 5000, "%25", "_", "%25%25%25", "' OR 1=1 --", "国"])
def test_holder_lookup_with_wildcards_and_junk_finds_nobody(world, number):
    """`%` and `_` are not LIKE wildcards here: only an exact number answers."""
    assert api(world).get(f"/api/v1/holders/{number}/cards/").status_code == 404


@pytest.mark.parametrize("query", [
    "start=2026-02-30", "start=x&end=y", "start=2026-05-01&end=2026-01-01", "start=2000-01-01&end=2026-01-01",
    "by=year", "start=99999-01-01", "start=%00", "end=" + "9" * 5000, "start=-0001-01-01",
])
def test_revenue_bad_dates_are_400(world, query):
    response = api(world).get(f"/api/v1/merchants/MH/revenue/?{query}")
    assert response.status_code == 400
    assert response.json()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/cards/{card}/", "/api/v1/holders/2026000999/cards/",
                                  "/api/v1/merchants/MH/revenue/"])
def test_read_only_api_refuses_writes_with_405(world, method, path):
    before = snapshot()
    response = getattr(api(world), method)(path.format(card=world["card"].card_no), {"status": "closed"},
                                           content_type="application/json")
    assert response.status_code == 405
    assert snapshot() == before


@pytest.mark.parametrize("header", ["Token", "Token a b", "Token \xff", "Bearer x", "Token " + "a" * 10000, "Token %00"])
def test_broken_tokens_are_401(world, header):
    client = login()
    response = client.get(f"/api/v1/cards/{world['card'].card_no}/", HTTP_AUTHORIZATION=header)
    assert response.status_code in (401, 403)
    assert "status" not in response.json()


def test_a_session_cookie_without_csrf_is_no_api_login(world):
    """The API takes tokens only, so a logged-in browser cannot be driven cross-site."""
    client = login(world["root"], csrf=True)
    assert client.get(f"/api/v1/cards/{world['card'].card_no}/").status_code == 401
