"""Sessions expire after SESSION_COOKIE_AGE of idleness, without a write on every request."""

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.utils import timezone

pytestmark = pytest.mark.django_db


def expiry(client):
    return Session.objects.get(session_key=client.session.session_key).expire_date


def test_activity_pushes_the_expiry_on_at_most_once_a_minute(client, staff, settings):
    client.force_login(staff)
    client.get("/admin/")
    first = expiry(client)
    client.get("/admin/")
    assert expiry(client) == first  # no write within the minute
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=5), tick=False):
        client.get("/admin/")
        assert expiry(client) > first


def test_an_idle_session_ends(client, staff, settings):
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=settings.SESSION_COOKIE_AGE + 60)):
        response = client.get("/admin/")
    assert response.status_code == 302 and "/login/" in response["Location"]
