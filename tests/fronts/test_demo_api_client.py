"""`seed_demo` creates a demo API client whose token works, and `demo_banner` prints it."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_seed_demo_writes_a_working_api_token_and_the_banner_prints_it(tmp_path):
    with override_settings(BASE_DIR=tmp_path):
        call_command("seed_demo", holders=12, no_history=True, stdout=io.StringIO())
        token = (tmp_path / "var" / "demo-api-token.txt").read_text().strip()
        banner = io.StringIO()
        call_command("demo_banner", stdout=banner)
    assert token and token in banner.getvalue()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/merchants/C01/settlements/").status_code == 200
    assert api.get("/api/v1/merchants/C01/revenue/").status_code == 200
