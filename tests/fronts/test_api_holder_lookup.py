"""The API's holder lookup (GET /api/v1/holders/<number>/cards/, R-SUB-1) is one exact lookup by
staff/student number: it once ran the staff search (names icontains) and filtered in Python, so a
one-letter input loaded every holder whose name held that letter."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.selectors import holder_get_by_number
from campuscard.api.services import api_client_create
from tests.factories import HolderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(make_user):
    root = make_user("api_lookup_root", "super_admin", is_superuser=True)
    _client, token = api_client_create(actor=root, name="lookup", scopes=["cards:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_holder_get_by_number_is_exact():
    holder = HolderFactory(number="S2026A", name="Alice Smith")
    assert holder_get_by_number(number="S2026A") == holder
    for near in ("s2026a", "S2026", "2026A", " S2026A", "A", "", "S2026A\x00", "S" * 33):
        assert holder_get_by_number(number=near) is None, near


def test_r_sub_1_one_letter_matches_no_name_and_loads_no_holder(api):
    """'a' is in every name below, and is nobody's number: 404 without reading any holder by name."""
    HolderFactory.create_batch(5, name="Anna a")
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/v1/holders/a/cards/").status_code == 404
    holder_sql = [q["sql"] for q in queries if '"accounts_cardholder"' in q["sql"]]
    assert len(holder_sql) == 1 and "LIKE" not in holder_sql[0].upper() and "LIMIT 1" in holder_sql[0].upper()


def test_r_sub_1_exact_number_answers_and_case_matters(api):
    holder = HolderFactory(number="T2026B")
    assert api.get("/api/v1/holders/T2026B/cards/").json()["number"] == "T2026B"
    assert api.get("/api/v1/holders/t2026b/cards/").status_code == 404  # as before: the number as issued
    assert holder.number == "T2026B"
