"""A one-time secret (a rotated terminal key, a new API token) is shown through the messages
framework. Django's default storage would carry it to the browser in the `messages` cookie,
signed but readable, until displayed; CampusCard keeps messages in the server-side session
(settings.MESSAGE_STORAGE, docs/operations.md "Key rotation")."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage

from campuscard.api.models import ApiClient
from terminals.models import Terminal

from .conftest import login

pytestmark = pytest.mark.django_db


def _no_message_cookie(response, client) -> None:
    assert CookieStorage.cookie_name not in response.cookies
    assert CookieStorage.cookie_name not in client.cookies


def test_message_storage_is_the_session():
    assert settings.MESSAGE_STORAGE == "django.contrib.messages.storage.session.SessionStorage"


def test_a_rotated_terminal_key_waits_server_side_then_is_gone(world):
    client = login(world["root"])
    terminal = world["terminal"]
    response = client.post("/admin/terminals/terminal/", {"action": "rotate_keys", "_selected_action": [terminal.pk]})
    assert response.status_code == 302
    new_key = bytes(Terminal.objects.get(pk=terminal.pk).key).hex()
    _no_message_cookie(response, client)
    assert new_key in client.session.get("_messages", "")  # in the session store until displayed
    page = client.get(response["Location"]).content.decode()
    assert page.count(new_key) == 1  # the one-time display
    assert "_messages" not in client.session  # and gone from the store once shown
    assert new_key not in client.get(response["Location"]).content.decode()


def test_a_new_api_token_never_travels_in_a_cookie(world):
    client = login(world["root"])
    response = client.post("/admin/campuscard/apiclient/add/", {"name": "library-gw", "scopes": ["cards:read"], "active": "on"})
    assert response.status_code == 302, response.content.decode()[:500]
    _no_message_cookie(response, client)
    prefix = ApiClient.objects.get(name="library-gw").token_prefix
    stored = client.session.get("_messages", "")
    assert prefix in stored
    page = client.get(response["Location"]).content.decode()
    assert prefix in page and "_messages" not in client.session
