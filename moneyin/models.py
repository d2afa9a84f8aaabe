"""Money in (issue 13): bank transfers over the bank link (银校通 圈存转帐, M§11), the bank's daily
statement files and the differences reconciliation finds (R-ADJ-1). Money moves only through
accounts.ledger (via accounts.services); rows here say what was asked, answered and found."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import AdjustmentRequest, Cardholder, Journal, Purse

USER = settings.AUTH_USER_MODEL


class BankTransfer(models.Model):
    """One transfer from a holder's bank card to their campus account, as sent to the bank (0200)
    and answered (0210), or reversed (0400/0410). Credited once, by the journal whose source is
    ``bank-in:<rrn>``; a late or duplicate answer changes nothing."""

    class Status(models.TextChoices):
        SENT = "sent", _("Sent, waiting for the bank")
        APPROVED = "approved", _("Approved and credited")
        DECLINED = "declined", _("Declined by the bank")
        REVERSING = "reversing", _("Reversal sent, not yet acknowledged")
        REVERSED = "reversed", _("Reversed")

    class Channel(models.TextChoices):
        TERMINAL = "terminal", _("Top-up terminal (圈存机)")
        KIOSK = "kiosk", _("Self-service kiosk")
        STAFF = "staff", _("Counter")

    rrn = models.CharField(_("retrieval reference number"), max_length=12, unique=True)
    stan = models.CharField(_("trace number (STAN)"), max_length=6)
    transmitted = models.CharField(_("transmission time (MMDDhhmmss)"), max_length=10)
    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, related_name="bank_transfers",
                               verbose_name=_("cardholder"))
    purse = models.ForeignKey(Purse, on_delete=models.PROTECT, related_name="+", verbose_name=_("purse"))
    bank_card_no = models.CharField(_("bank card"), max_length=19)
    amount = models.BigIntegerField(_("amount (fen)"))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    terminal_id = models.CharField(_("terminal"), max_length=8)
    actor = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              verbose_name=_("actor"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.SENT)
    response_code = models.CharField(_("response code"), max_length=2, blank=True)
    auth_code = models.CharField(_("authorisation code"), max_length=6, blank=True)
    journal = models.OneToOneField(Journal, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("journal"))
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    reversal_tries = models.PositiveIntegerField(_("reversals sent"), default=0)
    reversed_at = models.DateTimeField(_("reversal acknowledged at"), null=True, blank=True)
    ignored_answers = models.PositiveIntegerField(_("late or duplicate answers ignored"), default=0)

    class Meta:
        verbose_name = _("bank transfer")
        verbose_name_plural = _("bank transfers")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="bank_transfer_positive"),
            # Credited exactly when approved.
            models.CheckConstraint(condition=Q(status="approved", journal__isnull=False)
                                   | (~Q(status="approved") & Q(journal__isnull=True)),
                                   name="bank_transfer_credited_iff_approved"),
        ]
        permissions = [("bank_transfer", _("Can make bank transfers at the counter")),
                       ("reconcile_bank", _("Can import bank statements and reconcile"))]

    def __str__(self):
        return f"{self.rrn} {self.amount}"


class BankStatement(models.Model):
    """The statement file of one day from the bank or the online payment channel, imported once
    and compared with the campus side."""

    class Source(models.TextChoices):
        BANK = "bank", _("Bank (银校通)")
        CHANNEL = "channel", _("Online payment channel")

    day = models.DateField(_("business day"))
    source = models.CharField(_("source"), max_length=8, choices=Source.choices, default=Source.BANK)
    filename = models.CharField(_("file"), max_length=200, blank=True)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    matched = models.PositiveIntegerField(_("matched"), default=0)
    bank_total = models.BigIntegerField(_("statement total (fen)"), default=0)
    campus_total = models.BigIntegerField(_("campus total (fen)"), default=0)
    imported_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+", verbose_name=_("imported by"))
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)

    class Meta:
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")
        ordering = ["-day", "source"]
        constraints = [models.UniqueConstraint(fields=["day", "source"], name="one_statement_per_day_and_source")]

    def __str__(self):
        return f"{self.day} {self.get_source_display()}"


class StatementDifference(models.Model):
    """One disagreement between the bank's statement and the campus records. Found, it is moved
    between bank clearing and suspense (so bank clearing agrees with the bank); it is resolved by
    one of the four adjustments of R-ADJ-1, asked for by one person and approved by another
    (accounts.AdjustmentRequest)."""

    class Kind(models.TextChoices):
        LONG = "long", _("Long (长款): the statement has more than the campus")
        SHORT = "short", _("Short (短款): the campus has more than the statement")
        AMOUNT = "amount", _("Amount differs")

    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="differences",
                                  verbose_name=_("bank statement"))
    kind = models.CharField(_("kind"), max_length=6, choices=Kind.choices)
    # The bank's RRN, or the channel's order number (R + it for a refund).
    rrn = models.CharField(_("reference number"), max_length=32)
    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                               verbose_name=_("cardholder"))
    order = models.ForeignKey("OnlineOrder", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              verbose_name=_("online top-up"))
    transfer = models.ForeignKey(BankTransfer, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                 verbose_name=_("bank transfer"))
    bank_amount = models.BigIntegerField(_("statement amount (fen)"), default=0)
    campus_amount = models.BigIntegerField(_("campus amount (fen)"), default=0)
    journal = models.OneToOneField(Journal, on_delete=models.PROTECT, related_name="+", verbose_name=_("journal"))
    request = models.ForeignKey(AdjustmentRequest, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+", verbose_name=_("adjustment request"))

    class Meta:
        verbose_name = _("statement difference")
        verbose_name_plural = _("statement differences")
        ordering = ["statement", "id"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "rrn"], name="one_difference_per_rrn"),
            models.CheckConstraint(condition=~Q(bank_amount=models.F("campus_amount")), name="difference_not_zero"),
        ]

    def __str__(self):
        return f"{self.statement.day} {self.rrn} {self.get_kind_display()}"

    @property
    def difference(self) -> int:
        """statement − campus, in fen: positive is money the bank or channel took that the campus
        has not credited."""
        return self.bank_amount - self.campus_amount

    @property
    def resolved(self) -> bool:
        return self.request is not None and self.request.status == AdjustmentRequest.Status.APPROVED


class OnlineOrder(models.Model):
    """An online top-up through the payment channel (WeChat Pay / Alipay style), started by the
    holder at the kiosk. Credited once, on the first signed notify or query that says it is paid
    (the journal's source is ``online-topup:<out_trade_no>``); a replayed or forged notify changes nothing."""

    class Status(models.TextChoices):
        CREATED = "created", _("Waiting for payment")
        PAID = "paid", _("Paid and credited")
        REFUNDED = "refunded", _("Refunded")
        CLOSED = "closed", _("Closed")

    out_trade_no = models.CharField(_("order number"), max_length=32, unique=True)
    trade_no = models.CharField(_("channel's transaction number"), max_length=32, blank=True)
    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, related_name="online_orders",
                               verbose_name=_("cardholder"))
    purse = models.ForeignKey(Purse, on_delete=models.PROTECT, related_name="+", verbose_name=_("purse"))
    amount = models.BigIntegerField(_("amount (fen)"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.CREATED)
    code_url = models.CharField(_("payment link"), max_length=200, blank=True)
    journal = models.OneToOneField(Journal, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("journal"))
    refund_journal = models.OneToOneField(Journal, on_delete=models.PROTECT, null=True, blank=True,
                                          related_name="+", verbose_name=_("refund journal"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    ignored_notifies = models.PositiveIntegerField(_("repeated notifies ignored"), default=0)

    class Meta:
        verbose_name = _("online top-up")
        verbose_name_plural = _("online top-ups")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="online_order_positive"),
            models.CheckConstraint(condition=Q(status__in=["paid", "refunded"], journal__isnull=False)
                                   | (Q(status__in=["created", "closed"]) & Q(journal__isnull=True)),
                                   name="online_order_credited_iff_paid"),
        ]
        permissions = [("refund_online", _("Can refund online top-ups"))]

    def __str__(self):
        return self.out_trade_no
