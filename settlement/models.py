"""Daily close (对帐日结), monthly settlement, refunds, corrections, closures and approvals.

The daily close stores its totals per day in narrow tables (per merchant, terminal, operator,
card type, ledger account, purse) so that a monthly settlement is a GROUP BY over about thirty
rows per merchant, whatever the number of records. Rows here are written by settlement.services.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Cardholder, Journal
from merchants.models import Merchant
from terminals.models import Record

USER = settings.AUTH_USER_MODEL


# The figures of a day's purchases, named alike on every day-close row and shown under the same
# label everywhere (settlement.reports, the admin, the portal, the API):
#   purchase_amount  消费额          what cards were charged: base + surcharge of posted and held purchases
#   settled          结算消费额      to the merchants' payables (Record.merchant_amount), settled monthly
#   surcharge_amount 代收搭伙能源费  to the catering surcharge payable (Record.surcharge_amount, R-SUR-1)
#   held_amount      暂挂金额        to suspense: offline without authorisation, not settled (R-TERM-2)
# Each is a sum of the column posting stored in the record; nothing here applies a rate again.
def split_adds_up(table: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(purchase_amount=models.F("settled") + models.F("surcharge_amount") + models.F("held_amount")),
        name=f"{table}_split_adds_up")


class DayClose(models.Model):
    """One closed business day (R-DAY-1). Re-running recomputes the same numbers: the day is
    closed in the ledger (accounts.ClosedDay) before anything is read."""

    class Status(models.TextChoices):
        BALANCED = "balanced", _("Balanced")
        EXCEPTIONS = "exceptions", _("Open exceptions")

    day = models.DateField(_("business day"), unique=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    closed_at = models.DateTimeField(_("first closed at"), auto_now_add=True)
    run_at = models.DateTimeField(_("last run at"))
    runs = models.PositiveIntegerField(_("runs"), default=1)
    actor = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("last run by"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    records = models.BigIntegerField(_("records"), default=0)
    # The day's purchases and their split, sums of the records' stored columns (terminals.Record):
    # purchase_amount = settled + surcharge_amount + held_amount.
    purchase_amount = models.BigIntegerField(_("purchases (fen)"), default=0)
    settled = models.BigIntegerField(_("consumption settled (fen)"), default=0)
    surcharge_amount = models.BigIntegerField(_("catering surcharge collected (fen)"), default=0)
    held_amount = models.BigIntegerField(_("held out (fen)"), default=0)
    deposit_amount = models.BigIntegerField(_("deposits (fen)"), default=0)
    open_exceptions = models.PositiveIntegerField(_("open exceptions"), default=0)
    # Trial balance, fees, terminals, flags and other lists for the report.
    totals = models.JSONField(_("totals"), default=dict)

    class Meta:
        verbose_name = _("daily close")
        verbose_name_plural = _("daily closes")
        ordering = ["-day"]
        permissions = [("run_dayclose", _("Can run the daily close"))]
        constraints = [split_adds_up("dayclose")]

    def __str__(self):
        return str(self.day)


class DayMerchantTotal(models.Model):
    """A merchant's day: what its terminals charged and what moved on its payable."""

    day_close = models.ForeignKey(DayClose, on_delete=models.CASCADE, related_name="merchants")
    day = models.DateField(_("business day"))
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, verbose_name=_("merchant"))
    purchases = models.BigIntegerField(_("purchases"), default=0)
    purchase_amount = models.BigIntegerField(_("purchases (fen)"), default=0)
    settled = models.BigIntegerField(_("consumption settled (fen)"), default=0)
    surcharge_amount = models.BigIntegerField(_("catering surcharge collected (fen)"), default=0)
    held_count = models.BigIntegerField(_("records held out"), default=0)
    held_amount = models.BigIntegerField(_("held out (fen)"), default=0)
    duplicates = models.BigIntegerField(_("suspected duplicates"), default=0)
    refunds = models.BigIntegerField(_("merchant refunds (fen)"), default=0)
    corrections = models.BigIntegerField(_("corrections (fen)"), default=0)
    payable_from_batches = models.BigIntegerField(_("payable credited by postings (fen)"), default=0)

    class Meta:
        verbose_name = _("merchant day total")
        verbose_name_plural = _("merchant day totals")
        constraints = [models.UniqueConstraint(fields=["day", "merchant"], name="one_merchant_row_per_day"),
                       split_adds_up("daymerchant")]
        indexes = [models.Index(fields=["merchant", "day"])]

    def __str__(self):
        return f"{self.day} merchant {self.merchant_id}"


class DayTerminalTotal(models.Model):
    day_close = models.ForeignKey(DayClose, on_delete=models.CASCADE, related_name="terminals")
    day = models.DateField(_("business day"))
    terminal_id = models.BigIntegerField(_("terminal"))
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, null=True, verbose_name=_("merchant"))
    purchases = models.BigIntegerField(_("purchases"), default=0)
    # As on DayMerchantTotal, so the portal's revenue by terminal reads closed days from here
    # (settlement.revenue).
    purchase_amount = models.BigIntegerField(_("purchases (fen)"), default=0)
    settled = models.BigIntegerField(_("consumption settled (fen)"), default=0)
    surcharge_amount = models.BigIntegerField(_("catering surcharge collected (fen)"), default=0)
    held_count = models.BigIntegerField(_("records held out"), default=0)
    held_amount = models.BigIntegerField(_("held out (fen)"), default=0)
    deposits = models.BigIntegerField(_("deposits"), default=0)
    deposit_amount = models.BigIntegerField(_("deposits (fen)"), default=0)

    class Meta:
        verbose_name = _("terminal day total")
        verbose_name_plural = _("terminal day totals")
        constraints = [models.UniqueConstraint(fields=["day", "terminal_id", "merchant"], name="one_terminal_row_per_day",
                                               nulls_distinct=False),
                       split_adds_up("dayterminal")]
        indexes = [models.Index(fields=["merchant", "day"], name="dayterminal_merchant_day")]

    def __str__(self):
        return f"{self.day} T{self.terminal_id}"


class DayOperatorTotal(models.Model):
    """A cash top-up operator's day: the cash they must hand over (their cash account's movement)."""

    day_close = models.ForeignKey(DayClose, on_delete=models.CASCADE, related_name="operators")
    day = models.DateField(_("business day"))
    operator = models.ForeignKey(USER, on_delete=models.PROTECT, verbose_name=_("operator"))
    cash_account_id = models.BigIntegerField(_("cash account"))
    deposits = models.BigIntegerField(_("deposits at terminals"), default=0)
    deposit_amount = models.BigIntegerField(_("deposited at terminals (fen)"), default=0)
    cash_from_terminals = models.BigIntegerField(_("cash booked from terminals (fen)"), default=0)
    cash_to_hand_over = models.BigIntegerField(_("cash to hand over (fen)"), default=0)

    class Meta:
        verbose_name = _("operator day total")
        verbose_name_plural = _("operator day totals")
        constraints = [models.UniqueConstraint(fields=["day", "operator"], name="one_operator_row_per_day")]

    def __str__(self):
        return f"{self.day} operator {self.operator_id}"


class DayCardTypeTotal(models.Model):
    day_close = models.ForeignKey(DayClose, on_delete=models.CASCADE, related_name="card_types")
    day = models.DateField(_("business day"))
    card_type = models.PositiveSmallIntegerField(_("card type"))
    purchases = models.BigIntegerField(_("purchases"), default=0)
    purchase_amount = models.BigIntegerField(_("purchases (fen)"), default=0)
    settled = models.BigIntegerField(_("consumption settled (fen)"), default=0)
    surcharge_amount = models.BigIntegerField(_("catering surcharge collected (fen)"), default=0)
    held_amount = models.BigIntegerField(_("held out (fen)"), default=0)
    deposits = models.BigIntegerField(_("deposits"), default=0)
    deposit_amount = models.BigIntegerField(_("deposits (fen)"), default=0)

    class Meta:
        verbose_name = _("card-type day total")
        verbose_name_plural = _("card-type day totals")
        constraints = [models.UniqueConstraint(fields=["day", "card_type"], name="one_card_type_row_per_day"),
                       split_adds_up("daycardtype")]

    def __str__(self):
        return f"{self.day} card type {self.card_type}"


class DayAccountTotal(models.Model):
    """A non-purse ledger account's movement on the day, per journal kind and source family
    ("batch", "refund", "correction", "settle-pay", …)."""

    day_close = models.ForeignKey(DayClose, on_delete=models.CASCADE, related_name="accounts")
    day = models.DateField(_("business day"))
    account_id = models.BigIntegerField(_("ledger account"))
    kind = models.CharField(_("account kind"), max_length=10)
    journal_kind = models.CharField(_("journal kind"), max_length=12)
    source = models.CharField(_("source"), max_length=40)
    movement = models.BigIntegerField(_("movement (fen)"))
    journals = models.BigIntegerField(_("journals"))

    class Meta:
        verbose_name = _("account day total")
        verbose_name_plural = _("account day totals")
        indexes = [models.Index(fields=["day", "kind"]), models.Index(fields=["account_id", "day"])]

    def __str__(self):
        return f"{self.day} account {self.account_id} {self.source}"


class DayTrialBalance(models.Model):
    """The day's trial balance (试算平衡表), one row per ledger-account kind: the kind's balance at
    the start and end of the day and the day's debits and credits, all debit-positive (a credit
    balance is negative), so that over all kinds Σ opening = Σ closing = 0 and Σ debit = Σ credit.
    The special accounts (card fee, management fee, catering surcharge, bank clearing, suspense)
    are one account each, so their row is that account's. A kind added later (a new account kind)
    simply gets its own row: nothing here lists the kinds."""

    day_close = models.ForeignKey(DayClose, on_delete=models.CASCADE, related_name="trial_balance")
    day = models.DateField(_("business day"))
    kind = models.CharField(_("account kind"), max_length=20)
    opening = models.BigIntegerField(_("opening balance, debit-positive (fen)"))
    debit = models.BigIntegerField(_("debits (fen)"))
    credit = models.BigIntegerField(_("credits (fen)"))
    closing = models.BigIntegerField(_("closing balance, debit-positive (fen)"))
    postings = models.BigIntegerField(_("postings"), default=0)

    class Meta:
        verbose_name = _("trial balance row")
        verbose_name_plural = _("trial balance rows")
        ordering = ["day", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["day", "kind"], name="one_trial_balance_row_per_kind"),
            models.CheckConstraint(condition=Q(closing=models.F("opening") + models.F("debit") - models.F("credit")),
                                   name="trial_balance_row_adds_up"),
            models.CheckConstraint(condition=Q(debit__gte=0, credit__gte=0), name="trial_balance_sides_positive"),
        ]

    def __str__(self):
        return f"{self.day} {self.kind}"


class DayPurse(models.Model):
    """A purse that moved on the day: closing = opening + movement, and opening must equal the
    previous closing (R-DAY-1: every purse rebuilt as yesterday + movements)."""

    day = models.DateField(_("business day"))
    account_id = models.BigIntegerField(_("purse account"))
    opening = models.BigIntegerField(_("opening (fen)"))
    movement = models.BigIntegerField(_("movement (fen)"))
    closing = models.BigIntegerField(_("closing (fen)"))

    class Meta:
        verbose_name = _("purse day")
        verbose_name_plural = _("purse days")
        constraints = [models.UniqueConstraint(fields=["account_id", "day"], name="one_purse_row_per_day")]

    def __str__(self):
        return f"{self.day} purse {self.account_id}"


class CloseException(models.Model):
    """A difference the daily close found: never fixed silently, resolved by staff (R-DAY-1)."""

    class Kind(models.TextChoices):
        TRIAL_BALANCE = "trial_balance", _("Debits and credits differ")
        PURSE = "purse", _("Purse does not rebuild from yesterday + movements")
        MERCHANT = "merchant", _("Merchant payable differs from its records")
        ACCOUNT = "account", _("Surcharge or suspense account differs from its records")
        OPERATOR = "operator", _("Operator cash differs from deposits")
        CARD_FLAG = "card_flag", _("Card-vs-account disagreement")
        RECORD = "record", _("Record not posted")
        TERMINAL = "terminal", _("Terminal silent or block list late")
        BANK = "bank", _("Bank clearing differs or a statement difference is open")

    day_close = models.ForeignKey(DayClose, on_delete=models.CASCADE, related_name="exceptions")
    day = models.DateField(_("business day"))
    kind = models.CharField(_("kind"), max_length=14, choices=Kind.choices)
    ref = models.CharField(_("reference"), max_length=40)
    detail = models.CharField(_("detail"), max_length=300)
    amount = models.BigIntegerField(_("difference (fen)"), default=0)
    created_at = models.DateTimeField(_("found at"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("resolved by"))
    resolution = models.CharField(_("resolution"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("close exception")
        verbose_name_plural = _("close exceptions")
        ordering = ["day", "kind", "id"]
        constraints = [models.UniqueConstraint(fields=["day", "kind", "ref"], name="one_exception_per_ref")]
        permissions = [("resolve_closeexception", _("Can resolve close exceptions"))]

    def __str__(self):
        return f"{self.day} {self.get_kind_display()} #{self.pk}"


class Statement(models.Model):
    """A merchant's (or the catering centre's surcharge) settlement for a period (R-SET-*)."""

    class Kind(models.TextChoices):
        MERCHANT = "merchant", _("Merchant")
        SURCHARGE = "surcharge", _("Catering surcharge")

    class Status(models.TextChoices):
        OPEN = "open", _("Computed")
        APPLIED = "applied", _("Applied for")
        CHECKED = "checked", _("Checked by the centre")
        APPROVED = "approved", _("Approved by finance")
        PAID = "paid", _("Paid")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.MERCHANT)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("merchant"))
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    purchases = models.BigIntegerField(_("purchases"), default=0)
    consumption = models.BigIntegerField(_("consumption settled (fen)"), default=0)
    refunds = models.BigIntegerField(_("merchant refunds (fen)"), default=0)
    corrections = models.BigIntegerField(_("corrections (fen)"), default=0)
    held_count = models.BigIntegerField(_("records held out"), default=0)
    held_amount = models.BigIntegerField(_("held out (fen)"), default=0)
    fee_base = models.BigIntegerField(_("fee base (fen)"), default=0)
    fee = models.BigIntegerField(_("management fee (fen)"), default=0)
    net = models.BigIntegerField(_("net payable (fen)"), default=0)
    computed_at = models.DateTimeField(_("computed at"))
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    applied_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("applied by"))
    applied_late = models.BooleanField(_("applied after the window"), default=False)
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    checked_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("checked by"))
    check_note = models.CharField(_("check note"), max_length=200, blank=True)
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    approved_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("approved by"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    paid_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("paid by"))
    bank_ref = models.CharField(_("bank reference"), max_length=60, blank=True)
    payout_journal = models.ForeignKey(Journal, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("payout journal"))
    fee_journal = models.ForeignKey(Journal, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("fee journal"))

    class Meta:
        verbose_name = _("settlement statement")
        verbose_name_plural = _("settlement statements")
        ordering = ["-period_start", "kind", "merchant_id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "merchant", "period_start", "period_end"],
                                    name="one_statement_per_period", nulls_distinct=False),
            models.CheckConstraint(condition=Q(period_end__gte=models.F("period_start")), name="statement_period_order"),
            models.CheckConstraint(condition=Q(kind="surcharge", merchant__isnull=True) | Q(kind="merchant",
                                   merchant__isnull=False), name="statement_kind_matches_merchant"),
        ]
        permissions = [
            ("apply_statement", _("Can apply for settlement")),
            ("check_statement", _("Can check settlement statements")),
            ("approve_statement", _("Can approve settlement statements")),
            ("pay_statement", _("Can record settlement payouts")),
        ]

    def __str__(self):
        who = self.merchant if self.merchant_id else _("Catering surcharge")
        return f"{who} {self.period_start}…{self.period_end}"


class MerchantPolicy(models.Model):
    """Settlement-side facts about a merchant: a repeat offender of duplicate charges gets
    退一赔一 (R-DUP-2)."""

    merchant = models.OneToOneField(Merchant, on_delete=models.PROTECT, related_name="settlement_policy",
        verbose_name=_("merchant"))
    repeat_offender = models.BooleanField(_("repeat duplicate-charge offender"), default=False)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    changed_at = models.DateTimeField(_("changed at"), auto_now=True)
    changed_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("changed by"))

    class Meta:
        verbose_name = _("merchant policy")
        verbose_name_plural = _("merchant policies")

    def __str__(self):
        return f"{self.merchant_id} offender={self.repeat_offender}"


class Refund(models.Model):
    """A merchant refund of a charge (R-DUP-1), or the compensation of 退一赔一 (R-DUP-2)."""

    class Kind(models.TextChoices):
        DUPLICATE = "duplicate", _("Duplicate charge reversed")
        COMPENSATION = "compensation", _("Compensation (退一赔一)")

    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="+", verbose_name=_("record"))
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, verbose_name=_("merchant"))
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    from_merchant = models.BigIntegerField(_("from the merchant (fen)"))
    from_surcharge = models.BigIntegerField(_("from the surcharge account (fen)"), default=0)
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("journal"))
    surcharge_journal = models.ForeignKey(Journal, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("surcharge journal"))
    actor = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+", verbose_name=_("actor"))
    reason = models.CharField(_("reason"), max_length=200)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("merchant refund")
        verbose_name_plural = _("merchant refunds")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["record", "kind"], name="one_refund_per_record_kind")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.record_id}"


class Correction(models.Model):
    """消费纠错处理单 (U§9, R-MER-3): an over-charge confirmed by merchant and holder goes back to
    the holder's purse as pending credit, from the merchant's payable."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        DONE = "done", _("Corrected")
        REJECTED = "rejected", _("Rejected")

    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="+", verbose_name=_("record"))
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, verbose_name=_("merchant"))
    amount = models.BigIntegerField(_("over-charge (fen)"))
    reason = models.CharField(_("reason"), max_length=200)
    merchant_confirmed = models.BooleanField(_("confirmed by the merchant"), default=False)
    holder_confirmed = models.BooleanField(_("confirmed by the holder"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by"))
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    decided_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("note"), max_length=200, blank=True)
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("journal"))

    class Meta:
        verbose_name = _("correction form")
        verbose_name_plural = _("correction forms")
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="correction_positive")]
        permissions = [("decide_correction", _("Can decide correction forms"))]

    def __str__(self):
        return f"#{self.pk} {self.record_id} {self.amount}"


class GraduationClosure(models.Model):
    """An undergraduate cohort closed at graduation (R-CLOSE-2)."""

    cohort = models.CharField(_("cohort"), max_length=100)
    reason = models.CharField(_("reason"), max_length=200)
    actor = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+", verbose_name=_("actor"))
    created_at = models.DateTimeField(_("at"), auto_now_add=True)
    holders = models.PositiveIntegerField(_("holders"), default=0)
    paid = models.PositiveIntegerField(_("paid to bank cards"), default=0)
    total = models.BigIntegerField(_("paid out (fen)"), default=0)
    without_bank_card = models.PositiveIntegerField(_("without a bank card"), default=0)

    class Meta:
        verbose_name = _("graduation closure")
        verbose_name_plural = _("graduation closures")
        ordering = ["-id"]

    def __str__(self):
        return f"#{self.pk} {self.cohort}"


class ClosureLine(models.Model):
    class Status(models.TextChoices):
        PAID = "paid", _("Closed, paid to the bank card")
        CLOSED = "closed", _("Closed, nothing to pay")
        NO_BANK_CARD = "no_bank_card", _("Not closed: no bank card on file")
        FAILED = "failed", _("Not closed: refused")

    closure = models.ForeignKey(GraduationClosure, on_delete=models.CASCADE, related_name="lines", verbose_name=_("closure"))
    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, related_name="+", verbose_name=_("cardholder"))
    amount = models.BigIntegerField(_("balance (fen)"), default=0)
    bank_card_no = models.CharField(_("bank card"), max_length=32, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("journal"))

    class Meta:
        verbose_name = _("closure line")
        verbose_name_plural = _("closure lines")
        ordering = ["closure", "id"]

    def __str__(self):
        return f"{self.holder_id} {self.status}"
