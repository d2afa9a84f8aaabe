"""Writes for API clients (super admin only: every model permission of campuscard), and the
writes subsystems make through the API (R-SUB-1), each under the client's own service login."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction

from accounts import selectors as accounts_selectors
from accounts.errors import BusinessError, NotAllowed
from accounts.services import audit_write, card_functions_set, permission_require

from .models import MERCHANT_SCOPES, ApiClient, Scope

FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# What a client's service login may do, per scope: the services check these like any staff's.
SCOPE_PERMISSIONS = {
    Scope.CARDS_FUNCTIONS: [("accounts", "change_card")],
    # The registry's intake creates and updates holders as a desk clerk's would (accounts.intake).
    Scope.HOLDERS_SYNC: [("accounts", "add_intake"), ("accounts", "add_cardholder"), ("accounts", "change_cardholder")],
}


@transaction.atomic
def api_client_create(*, actor, name: str, scopes: list[str], merchant=None) -> tuple[ApiClient, str]:
    """A new client and its token (returned once, never stored in clear)."""
    permission_require(actor, "campuscard.add_apiclient")
    name = (name or "").strip()
    unknown = set(scopes) - set(Scope.values)
    if not name or not scopes or unknown:
        raise BusinessError(f"A client needs a name and known scopes (unknown: {sorted(unknown)}).")
    api_client_scopes_check(scopes, merchant)
    if ApiClient.objects.filter(name=name).exists():
        raise BusinessError(f"API client {name} already exists.")
    client = ApiClient(name=name, scopes=sorted(set(scopes)), merchant=merchant)
    token = client.new_token()
    client.save()
    audit_write(action="api_client_create", actor=actor, client=name, scopes=client.scopes,
                merchant=merchant.code if merchant else None)
    return client, token


def api_client_scopes_check(scopes, merchant) -> None:
    """Refuse card scopes on a merchant-bound client (models.MERCHANT_SCOPES says why)."""
    if merchant is not None and set(scopes) - MERCHANT_SCOPES:
        raise BusinessError("A token bound to a merchant reads that merchant's revenue and settlements only, "
                            f"never cards (refused: {sorted(set(scopes) - MERCHANT_SCOPES)}).")


@transaction.atomic
def api_client_update(*, actor, client: ApiClient, scopes: list[str], merchant, active: bool) -> ApiClient:
    """Change a client's scopes, merchant binding or state (the admin's change form)."""
    permission_require(actor, "campuscard.change_apiclient")
    unknown = set(scopes) - set(Scope.values)
    if not scopes or unknown:
        raise BusinessError(f"A client needs known scopes (unknown: {sorted(unknown)}).")
    api_client_scopes_check(scopes, merchant)
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    before = {"scopes": client.scopes, "merchant": client.merchant.code if client.merchant_id else None,
              "active": client.active}
    client.scopes, client.merchant, client.active = sorted(set(scopes)), merchant, active
    client.save(update_fields=["scopes", "merchant", "active"])
    audit_write(action="api_client_update", actor=actor, client=client.name, before=before, scopes=client.scopes,
                merchant=merchant.code if merchant else None, active=active)
    return client


@transaction.atomic
def api_client_rotate(*, actor, client: ApiClient) -> str:
    permission_require(actor, "campuscard.change_apiclient")
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    token = client.new_token()
    client.save(update_fields=["token_hash", "token_prefix"])
    audit_write(action="api_client_rotate", actor=actor, client=client.name)
    return token


def api_client_actor(client: ApiClient):
    """The login a client's writes are made and audited under: `api-client-<id>`, named after the
    client, never able to sign in, holding only what the client's write scopes need."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=f"api-client-{client.pk}",
                                               defaults={"first_name": client.name[:150], "is_staff": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    elif user.first_name != client.name[:150]:
        User.objects.filter(pk=user.pk).update(first_name=client.name[:150])
    wanted = [p for scope in client.scopes for p in SCOPE_PERMISSIONS.get(scope, [])]
    have = set(user.user_permissions.values_list("content_type__app_label", "codename"))
    missing = [p for p in wanted if p not in have]
    if missing:
        for app, codename in missing:
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return User.objects.get(pk=user.pk)  # fresh: no cached permissions


@transaction.atomic
def card_function_switch(*, client: ApiClient, card_no: int, function: str, enabled: bool, reason: str):
    """A subsystem (library, access control…) switches its function on or off for one card
    (R-SUB-1, R-CARD-5). The card is locked while its list changes, so two subsystems switching
    at once both keep their change. Returns (card, changed); None when the card does not exist."""
    if Scope.CARDS_FUNCTIONS not in (client.scopes or []) or client.merchant_id is not None:
        raise NotAllowed("This client may not switch card functions.")
    function = (function or "").strip()
    if not FUNCTION_NAME.match(function):
        raise BusinessError("A function is a short lowercase name such as library or access.")
    reason = (reason or "").strip()
    if not reason:
        raise BusinessError("A reason is required.")
    card = accounts_selectors.card_get_for_update(card_no=card_no)
    if card is None:
        return None, False
    if enabled and card.status in ("closed", "replaced"):
        raise BusinessError(f"Card {card_no} is {card.status}; nothing can be switched on for it.")
    functions = set(card.functions or [])
    new = functions | {function} if enabled else functions - {function}
    if new == functions:
        return card, False
    card = card_functions_set(card=card, actor=api_client_actor(client), functions=sorted(new),
                              reason=f"API {client.name}: {reason}"[:200])
    return card, True


def holders_intake(*, client: ApiClient, rows: list[dict], apply: bool) -> dict:
    """The registry's rows through the intake (accounts.intake), under the client's service login:
    checked and kept for the desk to see; with `apply`, every row without errors written."""
    from accounts import intake
    from accounts.models import IntakeRow

    if Scope.HOLDERS_SYNC not in (client.scopes or []) or client.merchant_id is not None:
        raise NotAllowed("This client may not send holders.")
    actor = api_client_actor(client)
    batch = intake.intake_preview(actor=actor, rows=[{**r, "_row": i} for i, r in enumerate(rows, start=1)],
                                  source="api", filename=client.name[:100])
    while apply and batch.status in ("preview", "applying"):
        batch = intake.intake_apply(actor=actor, intake=batch)
    counts = {a: 0 for a in IntakeRow.Action.values}
    errors = []
    for line in batch.lines.order_by("row_no"):
        counts[line.action] += 1
        if line.errors:
            errors.append({"row": line.row_no, "number": line.data.get("number", ""), "errors": line.errors})
    return {"intake": batch.pk, "status": batch.status, "rows": batch.rows_total, "create": counts["create"],
            "update": counts["update"], "same": counts["same"], "created": batch.created, "updated": batch.updated,
            "errors": errors}
