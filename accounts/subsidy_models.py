"""Subsidies (补助): a list filed by one person, approved by another, issued through the ledger
into the subsidy liability, claimed at a top-up point as pending credit, reversed at expiry.

Imported by accounts.models; written only through accounts.subsidies.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# merchants.models.MerchantKind, by value as a string: accounts is layer 0 and imports no app
# above it (tests check the two stay the same).
SUBSIDY_MERCHANT_KINDS = [
    ("1", _("Dining")),
    ("2", _("Water control")),
    ("3", _("Retail/other")),
    ("4", _("Top-up point")),
]
TOPUP_KIND = "4"


class SubsidyBatch(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved and issued")
        REJECTED = "rejected", _("Rejected")

    filename = models.CharField(_("file"), max_length=200, blank=True)
    reason = models.CharField(_("reason"), max_length=200)
    expires_on = models.DateField(_("claimable until"))
    # Where it may be claimed: MerchantKind values as strings; empty = any top-up point.
    merchant_kinds = models.JSONField(_("merchant kinds"), default=list, blank=True)
    rows = models.PositiveIntegerField(_("lines"), default=0)
    total = models.BigIntegerField(_("total (fen)"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("filed by"))
    filed_at = models.DateTimeField(_("filed at"), auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("note"), max_length=200, blank=True)
    journal = models.ForeignKey("accounts.Journal", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+", verbose_name=_("journal"))

    class Meta:
        verbose_name = _("subsidy batch")
        verbose_name_plural = _("subsidy batches")
        ordering = ["-id"]
        permissions = [("approve_subsidybatch", _("Can approve or reject subsidy batches"))]
        constraints = [
            models.CheckConstraint(condition=Q(total__gt=0) & Q(rows__gt=0), name="subsidy_batch_positive"),
            # Maker-checker in the database too (R-ADJ-1): whoever filed never decides.
            models.CheckConstraint(condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("filed_by")),
                                   name="subsidy_four_eyes"),
            models.CheckConstraint(condition=Q(status="pending", decided_by__isnull=True, journal__isnull=True)
                                   | Q(status="approved", decided_by__isnull=False, journal__isnull=False)
                                   | Q(status="rejected", decided_by__isnull=False, journal__isnull=True),
                                   name="subsidy_decided_consistently"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.reason}"


class SubsidyLine(models.Model):
    class Status(models.TextChoices):
        FILED = "filed", _("Waiting for approval")
        OPEN = "open", _("Issued, not yet claimed")
        CLAIMED = "claimed", _("Claimed")
        EXPIRED = "expired", _("Expired and reversed")
        REJECTED = "rejected", _("Rejected")

    batch = models.ForeignKey(SubsidyBatch, on_delete=models.PROTECT, related_name="lines",
                              verbose_name=_("subsidy batch"))
    row_no = models.PositiveIntegerField(_("row"))
    holder = models.ForeignKey("accounts.Cardholder", on_delete=models.PROTECT, related_name="subsidies",
                               verbose_name=_("cardholder"))
    amount = models.BigIntegerField(_("amount (fen)"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    expires_on = models.DateField(_("claimable until"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.FILED)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    claim_terminal_id = models.BigIntegerField(_("claimed at terminal"), null=True, blank=True)
    claim_journal = models.ForeignKey("accounts.Journal", on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="+", verbose_name=_("claim journal"))
    expired_at = models.DateTimeField(_("reversed at"), null=True, blank=True)
    expire_journal = models.ForeignKey("accounts.Journal", on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="+", verbose_name=_("reversal journal"))

    class Meta:
        verbose_name = _("subsidy")
        verbose_name_plural = _("subsidies")
        ordering = ["-batch_id", "row_no"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="subsidy_line_positive"),
            models.UniqueConstraint(fields=["batch", "holder"], name="one_subsidy_line_per_holder"),
            models.UniqueConstraint(fields=["batch", "row_no"], name="one_subsidy_line_per_row"),
            # Claimed and reversed are final and exclusive: money leaves the liability once.
            models.CheckConstraint(condition=~Q(status="claimed") | Q(claim_journal__isnull=False),
                                   name="subsidy_claimed_has_journal"),
            models.CheckConstraint(condition=~Q(status="expired") | Q(expire_journal__isnull=False),
                                   name="subsidy_expired_has_journal"),
            models.CheckConstraint(condition=Q(claim_journal__isnull=True) | Q(expire_journal__isnull=True),
                                   name="subsidy_claimed_or_reversed"),
        ]
        indexes = [
            # The top-up point's question (0x40) and the expiry sweep read only open lines.
            models.Index(fields=["holder"], condition=Q(status="open"), name="subsidy_open_by_holder"),
            models.Index(fields=["expires_on"], condition=Q(status="open"), name="subsidy_open_by_expiry"),
        ]

    def __str__(self):
        return f"{self.batch_id}:{self.row_no}"
