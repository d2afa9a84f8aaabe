"""Login lockout behind the reverse proxy (issue 10, "Login lockout works behind a reverse proxy").

Five wrong passwords for one user, all arriving from the proxy's address, locked every staff and
merchant login. The lock is now on (username, client address), the client address read from the
trusted proxy's header (campuscard.security.client_ip; docs/operations.md)."""

from __future__ import annotations

import ipaddress

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.setup import role_group
from merchants.models import MerchantKind
from merchants.services import merchant_create, merchant_user_add
from tests.accounts.helpers import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.11"
CLIENT_A, CLIENT_B = "203.0.113.5", "198.51.100.7"


@pytest.fixture(autouse=True)
def behind_nginx(settings):
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network(PROXY)]


@pytest.fixture
def logins(superuser):
    User = get_user_model()
    staff_a = User.objects.create_user("desk_a", password="pw-desk_a", is_staff=True)
    staff_b = User.objects.create_user("desk_b", password="pw-desk_b", is_staff=True)
    for u in (staff_a, staff_b):
        u.groups.add(role_group("card_centre"))
    merchant = merchant_create(actor=superuser, code="ML", name="食堂L", kind=MerchantKind.DINING)
    for name in ("mer_a", "mer_b"):
        merchant_user_add(actor=superuser, merchant=merchant, user=User.objects.create_user(name, password=f"pw-{name}"))
    return {"/admin/login/": ("desk_a", "desk_b"), "/merchant/login/": ("mer_a", "mer_b")}


def via_proxy(client_ip: str, forwarded_prefix: str = "") -> Client:
    """A browser at client_ip behind our nginx, which appends the address it saw."""
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{forwarded_prefix}{client_ip}")


def attempt(client: Client, url: str, username: str, password: str | None = None) -> int:
    return client.post(url, {"username": username, "password": password or f"pw-{username}"}).status_code


@pytest.mark.parametrize("url", ["/admin/login/", "/merchant/login/"])
def test_five_failures_for_one_user_lock_only_that_user_from_that_client(url, logins, settings):
    a, b = logins[url]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(via_proxy(CLIENT_A), url, a, "wrong")
    assert attempt(via_proxy(CLIENT_A), url, a) == 429  # even the right password, from there
    assert attempt(via_proxy(CLIENT_A), url, b) == 302  # B at the same client, same proxy: signs in
    assert attempt(via_proxy(CLIENT_B), url, a) == 302  # A from another client behind the proxy: signs in


def test_a_forged_forwarded_header_does_not_escape_the_lock(logins, settings):
    """The attacker writes a new address in front on every try; our proxy appends the real one,
    which is what counts. Nor does a client that reaches gunicorn directly choose its address."""
    url = "/admin/login/"
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt(via_proxy(CLIENT_A, forwarded_prefix=f"192.0.2.{i}, "), url, "desk_a", "wrong")
    assert attempt(via_proxy(CLIENT_A, forwarded_prefix="192.0.2.99, "), url, "desk_a") == 429
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt(Client(REMOTE_ADDR=CLIENT_B, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}"), url, "desk_b", "wrong")
    assert attempt(Client(REMOTE_ADDR=CLIENT_B, HTTP_X_FORWARDED_FOR="192.0.2.200"), url, "desk_b") == 429


def test_client_ip_reads_the_header_only_from_a_trusted_proxy(rf):
    from campuscard.security import client_ip

    assert client_ip(rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"1.2.3.4, {CLIENT_A}")) == CLIENT_A
    assert client_ip(rf.get("/", REMOTE_ADDR=CLIENT_B, HTTP_X_FORWARDED_FOR="1.2.3.4")) == CLIENT_B
    assert client_ip(rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="junk")) == PROXY
    assert client_ip(rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{CLIENT_A}, {PROXY}")) == CLIENT_A
    assert client_ip(rf.get("/", REMOTE_ADDR=PROXY)) == PROXY
