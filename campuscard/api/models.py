"""API clients: one per connected subsystem or integration, each with its own scopes."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    CARDS_READ = "cards:read", _("Card status and a holder's cards")
    REVENUE_READ = "revenue:read", _("Merchant revenue")
    SETTLEMENTS_READ = "settlements:read", _("Merchant settlements")
    CARDS_FUNCTIONS = "cards:functions", _("Switch a card's subsystem functions on or off")
    HOLDERS_SYNC = "holders:sync", _("Send freshmen and staff from the registry (intake)")


# What a token bound to one merchant (its own cash register, its accounts software) may hold: that
# merchant's revenue and settlements. Never cards: a card's status and its holder's number are the
# holder's, not the merchant's; "only cards used at the merchant" would still let a canteen follow a
# student's card (lost, frozen, replaced) and, card numbers being consecutive, probe for others. A
# merchant's terminals learn which cards to refuse from the block list (R-TERM-3), not the API.
MERCHANT_SCOPES = frozenset({Scope.REVENUE_READ, Scope.SETTLEMENTS_READ})


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiClient(models.Model):
    """A subsystem's token. Only its SHA-256 is stored: the token itself is shown once."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(_("token starts with"), max_length=8, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    # Bound to one merchant (its own cash-register integration, say): it sees that merchant only.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, null=True, blank=True,
                                 verbose_name=_("only this merchant"))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        app_label = "campuscard"
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def scope_allowed(self, scope: str) -> bool:
        """The client holds `scope`, and a merchant-bound client only the merchant scopes (clients
        made before that rule keep their stored scopes but cannot use the others)."""
        return scope in (self.scopes or []) and (self.merchant_id is None or scope in MERCHANT_SCOPES)

    def new_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self.token_hash, self.token_prefix = token_digest(token), token[:8]
        return token

    # DRF's IsAuthenticated and throttles read these off request.user.
    is_authenticated = True
    is_anonymous = False
