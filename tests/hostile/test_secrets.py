"""Secrets stay secret (issue 6): a terminal's key and a holder's kiosk query password never
appear in logs (captured at DEBUG), in audit rows, in admin lists or detail pages, or in API
output and the OpenAPI schema. The only exception is the one-time display of a new key right
after registration or rotation, to the staff member who did it."""

from __future__ import annotations

import base64
import io
import logging

import pytest
from django.core.management import call_command

from accounts import services as acc
from accounts.models import AuditLog
from terminals.models import Terminal

from .conftest import login

pytestmark = pytest.mark.django_db
SECRET_PW = "97531864"  # the kiosk password in these tests: distinctive, 6-12 digits


def forms_of(key: bytes) -> list[str]:
    """Every way a key could be written down by accident."""
    return [key.hex(), key.hex().upper(), repr(key)[2:-1], base64.b64encode(key).decode(),
            base64.urlsafe_b64encode(key).decode().rstrip("=")]


def assert_absent(text: str, *, keys=(), passwords=(), where=""):
    for key in keys:
        for form in forms_of(key):
            assert form not in text, f"terminal key ({form[:8]}…) in {where}"
    for password in passwords:
        assert password not in text, f"kiosk password in {where}"


def audit_text() -> str:
    return "\n".join(f"{a.action} {a.reason} {a.data}" for a in AuditLog.objects.all())


def all_keys() -> list[bytes]:
    return [bytes(k) for k in Terminal.objects.values_list("key", flat=True)]


# --- logs -------------------------------------------------------------------------------------

def test_registering_rotating_and_kiosk_sign_ins_log_no_secret(world, caplog):
    caplog.set_level(logging.DEBUG)
    from terminals.services import terminal_add, terminal_key_rotate

    terminal, key = terminal_add(actor=world["root"], merchant=world["merchant"])
    new_key = terminal_key_rotate(actor=world["root"], terminal=terminal)
    out = io.StringIO()
    call_command("terminal_add", "--merchant", world["merchant"].code, stdout=out)  # prints its key: by design
    holder = world["holder"]
    acc.holder_set_kiosk_password(actor=world["staff"], holder=holder, raw_password=SECRET_PW)
    for password in ("00000000", SECRET_PW):
        login().post("/kiosk/", {"number": holder.number, "password": password})
    client = login(world["root"])
    client.post("/admin/terminals/terminal/", {"action": "rotate_keys", "_selected_action": [terminal.pk]})
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {getattr(r, 'exc_text', '')}" for r in caplog.records)
    assert_absent(logged, keys=[key, new_key, *all_keys()], passwords=[SECRET_PW], where="the logs")
    assert_absent(audit_text(), keys=[key, new_key, *all_keys()], passwords=[SECRET_PW], where="the audit log")
    hashed = type(holder).objects.get(pk=holder.pk).kiosk_password
    assert hashed and hashed not in logged and hashed not in audit_text()


@pytest.mark.django_db(transaction=True)
def test_gateway_traffic_logs_no_key(caplog, make_user):
    """Sign-in, heartbeat, an upload, a block-list sync and a frame with a wrong MAC, at DEBUG."""
    from merchants.models import MerchantKind
    from merchants.services import merchant_create
    from terminals.services import terminal_add
    from terminals.wire.client import VirtualTerminal
    from tests.terminals.conftest import RunningGateway, run

    caplog.set_level(logging.DEBUG)
    root = make_user("gw_root", "super_admin", is_superuser=True)
    merchant = merchant_create(actor=root, code="MG", name="商户G", kind=MerchantKind.RETAIL)
    terminal, key = terminal_add(actor=root, merchant=merchant)
    gateway = RunningGateway()
    try:
        vt = VirtualTerminal(terminal_id=terminal.pk, key=key)
        wrong = VirtualTerminal(terminal_id=terminal.pk, key=bytes(32))

        async def go():
            await vt.connect("127.0.0.1", gateway.port)
            await vt.heartbeat()
            await vt.upload([])
            await vt.sync_blocklist()
            await vt.close()
            try:
                await wrong.connect("127.0.0.1", gateway.port)
            except Exception:  # refused (NACK): the point is what got logged
                pass
            await wrong.close()

        run(go())
    finally:
        gateway.stop()
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert_absent(logged, keys=[key], where="the gateway's logs")


# --- admin pages ------------------------------------------------------------------------------

def test_admin_lists_and_pages_never_show_a_key(world):
    client = login(world["root"])
    terminal = world["terminal"]
    pages = ["/admin/terminals/terminal/", f"/admin/terminals/terminal/{terminal.pk}/change/",
             f"/admin/terminals/terminal/{terminal.pk}/history/", "/admin/accounts/auditlog/",
             "/admin/", "/admin/merchants/merchant/",
             f"/admin/merchants/merchant/{world['merchant'].pk}/change/", "/admin/merchants/application/"]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert_absent(response.content.decode(), keys=all_keys(), where=page)


def test_a_rotated_key_is_shown_once_to_who_rotated_it(world):
    client = login(world["root"])
    terminal = world["terminal"]
    response = client.post("/admin/terminals/terminal/", {"action": "rotate_keys",
                                                          "_selected_action": [terminal.pk]}, follow=True)
    new_key = bytes(Terminal.objects.get(pk=terminal.pk).key)
    assert new_key != world["key"]
    assert response.content.decode().count(new_key.hex()) == 1  # the one-time display
    for page in ("/admin/terminals/terminal/", f"/admin/terminals/terminal/{terminal.pk}/change/",
                 "/admin/accounts/auditlog/"):
        assert_absent(client.get(page).content.decode(), keys=[new_key, world["key"]], where=page)


def test_staff_without_change_permission_cannot_rotate_and_see_a_key(world):
    """Finance may view terminals, not rotate their keys."""
    client = login(world["finance"])
    response = client.post("/admin/terminals/terminal/", {"action": "rotate_keys",
                                                          "_selected_action": [world["terminal"].pk]}, follow=True)
    assert response.status_code in (200, 403)
    assert bytes(Terminal.objects.get(pk=world["terminal"].pk).key) == world["key"]
    assert_absent(response.content.decode(), keys=all_keys(), where="finance's rotate attempt")


def test_kiosk_password_and_its_hash_never_reach_admin_pages(world):
    holder = world["holder"]
    client = login(world["root"])
    response = client.post(f"/admin/accounts/cardholder/{holder.pk}/kiosk-password/",
                           {"password1": SECRET_PW, "password2": SECRET_PW}, follow=True)
    assert response.status_code == 200
    hashed = type(holder).objects.get(pk=holder.pk).kiosk_password
    assert hashed.startswith(("md5$", "pbkdf2"))
    pages = [response.content.decode()] + [client.get(p).content.decode() for p in (
        "/admin/accounts/cardholder/", f"/admin/accounts/cardholder/{holder.pk}/change/",
        f"/admin/accounts/cardholder/{holder.pk}/kiosk-password/", f"/admin/accounts/cardholder/{holder.pk}/history/",
        "/admin/accounts/auditlog/", f"/admin/accounts/card/{world['card'].pk}/change/")]
    for html in pages:
        assert SECRET_PW not in html and hashed not in html and hashed.split("$")[-1] not in html


def test_a_wrong_kiosk_password_is_not_echoed_back(world):
    response = login().post("/kiosk/", {"number": world["holder"].number, "password": SECRET_PW})
    assert SECRET_PW not in response.content.decode()


# --- API ----------------------------------------------------------------------------------------

def test_api_output_and_schema_carry_no_secret(world):
    holder, card = world["holder"], world["card"]
    acc.holder_set_kiosk_password(actor=world["staff"], holder=holder, raw_password=SECRET_PW)
    hashed = type(holder).objects.get(pk=holder.pk).kiosk_password
    api = login(token=world["token"])
    bodies = [api.get(f"/api/v1/cards/{card.card_no}/").content.decode(),
              api.get(f"/api/v1/holders/{holder.number}/cards/").content.decode(),
              api.get(f"/api/v1/merchants/{world['merchant'].code}/revenue/").content.decode(),
              _schema_without_request_bodies()]
    for body in bodies:
        assert_absent(body, keys=all_keys(), passwords=[SECRET_PW], where="the API")
        assert hashed not in body
        for field in ("kiosk_password", "token_hash", "id_number", "\"key\""):
            assert field not in body, field
    assert world["token"] not in "".join(bodies)


def _schema_without_request_bodies() -> str:
    """The OpenAPI schema as far as it describes what the API answers: the registry's intake takes
    ID numbers in (POST /api/v1/holders/intake/), which its request body documents; no answer
    carries one."""
    import json

    schema = json.loads(login().get("/api/schema/?format=json").content)
    for path in schema["paths"].values():
        for operation in path.values():
            operation.pop("requestBody", None)
    for name in [n for n in schema["components"]["schemas"] if n.endswith("Request")]:
        del schema["components"]["schemas"][name]
    return json.dumps(schema)


def test_sql_logging_never_writes_a_key_even_in_debug(world, caplog):
    """With DEBUG on (SQL logged) and the root logger at DEBUG, the SQL of a new terminal (its key
    a parameter) must still not be written: Django's own "django" logger stays at INFO. Whoever
    turns django.db.backends to DEBUG for a session has keys in that log (docs/operations.md)."""
    from django.db import connection

    from terminals.services import terminal_add, terminal_key_rotate

    caplog.set_level(logging.DEBUG)
    connection.force_debug_cursor = True  # what DEBUG=True does
    try:
        terminal, key = terminal_add(actor=world["root"], merchant=world["merchant"])
        new_key = terminal_key_rotate(actor=world["root"], terminal=terminal)
    finally:
        connection.force_debug_cursor = False
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert_absent(logged, keys=[key, new_key], where="the SQL log")
