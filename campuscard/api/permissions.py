from __future__ import annotations

from rest_framework.permissions import BasePermission

from .models import ApiClient


class HasScope(BasePermission):
    """The view's `required_scope` must be one of the client's scopes, and one a merchant-bound
    client may use (models.MERCHANT_SCOPES), else 403."""

    message = "This token lacks the scope for this endpoint."

    def has_permission(self, request, view):
        client = request.user
        return isinstance(client, ApiClient) and client.scope_allowed(view.required_scope)


def merchant_visible(client: ApiClient, merchant) -> bool:
    """A token bound to a merchant sees that merchant only; a caller cannot tell another exists."""
    return merchant is not None and (client.merchant_id is None or client.merchant_id == merchant.pk)
