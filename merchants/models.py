"""Merchants (商户), minimal for terminals; the settlement issue grows this app."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import LedgerAccount


class MerchantKind(models.IntegerChoices):
    # The values are merchant_kind of POS-PROTOCOL.md (0xB0 PARAMS).
    DINING = 1, _("Dining")
    WATER = 2, _("Water control")
    RETAIL = 3, _("Retail/other")
    TOPUP = 4, _("Top-up point")


class Merchant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        REVOKED = "revoked", _("Revoked")

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.PositiveSmallIntegerField(_("kind"), choices=MerchantKind.choices)
    internal = models.BooleanField(_("internal (school unit)"), default=True)
    payable_account = models.OneToOneField(
        LedgerAccount, on_delete=models.PROTECT, related_name="merchant", verbose_name=_("payable account")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"
