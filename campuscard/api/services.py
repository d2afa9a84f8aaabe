"""Writes for API clients (super admin only: every model permission of campuscard)."""

from __future__ import annotations

from django.db import transaction

from accounts.errors import BusinessError
from accounts.services import audit_write, permission_require

from .models import ApiClient, Scope


@transaction.atomic
def api_client_create(*, actor, name: str, scopes: list[str], merchant=None) -> tuple[ApiClient, str]:
    """A new client and its token (returned once, never stored in clear)."""
    permission_require(actor, "campuscard.add_apiclient")
    name = (name or "").strip()
    unknown = set(scopes) - set(Scope.values)
    if not name or not scopes or unknown:
        raise BusinessError(f"A client needs a name and known scopes (unknown: {sorted(unknown)}).")
    if ApiClient.objects.filter(name=name).exists():
        raise BusinessError(f"API client {name} already exists.")
    client = ApiClient(name=name, scopes=sorted(set(scopes)), merchant=merchant)
    token = client.new_token()
    client.save()
    audit_write(action="api_client_create", actor=actor, client=name, scopes=client.scopes,
                merchant=merchant.code if merchant else None)
    return client, token


@transaction.atomic
def api_client_rotate(*, actor, client: ApiClient) -> str:
    permission_require(actor, "campuscard.change_apiclient")
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    token = client.new_token()
    client.save(update_fields=["token_hash", "token_prefix"])
    audit_write(action="api_client_rotate", actor=actor, client=client.name)
    return token
