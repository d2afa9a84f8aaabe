"""Cardholders, cards, purses and the double-entry ledger.

Money is integer fen. A posting's amount is signed: debit positive, credit negative, so a
journal balances when its postings sum to zero (a deferred trigger enforces it, see
migration 0002). An account's ``balance`` is its natural balance: ``normal`` × Σ postings,
so a purse (a liability, credit-normal) shows a positive balance for money the holder owns.
Rows here are written only through accounts.services and accounts.ledger.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Unit(models.Model):
    """An employing or teaching unit (用人单位/办学单位): it applies for batch cards (R-ISSUE-2)."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class UnitAgent(models.Model):
    """A unit's batch agent (单位批量经办人): the login that applies for the unit's batches of
    ordinary and consumption cards (R-ISSUE-2). One unit per agent; a unit may have several."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="unit_agent", verbose_name=_("user"),
    )
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="agents", verbose_name=_("unit"))

    class Meta:
        verbose_name = _("unit batch agent")
        verbose_name_plural = _("unit batch agents")
        ordering = ["unit", "user"]

    def __str__(self):
        return f"{self.user} @ {self.unit}"


class Category(models.TextChoices):
    """Who a holder is; decides which card they may hold (R-CARD-2…4)."""

    STAFF = "staff", _("Staff on the establishment")
    RETIREE = "retiree", _("Retiree")
    TALENT_DISPATCH = "talent_dispatch", _("Staff placed through the talent centre")
    UNDERGRADUATE = "undergraduate", _("Undergraduate (state plan)")
    JUNIOR_COLLEGE = "junior_college", _("Junior-college student (state plan)")
    MASTER = "master", _("Master's student")
    DOCTORAL = "doctoral", _("Doctoral student")
    INTL_EXCHANGE = "intl_exchange", _("International exchange student")
    CONTRACT_STAFF = "contract_staff", _("Contract or temporary staff")
    NON_PLAN_STUDENT = "non_plan_student", _("Student outside the state plan")
    OTHER_RESIDENT = "other_resident", _("Other long-term campus resident")
    SHORT_TERM = "short_term", _("Short-term visitor (进修, 实习)")


FORMAL_CATEGORIES = frozenset({
    Category.STAFF, Category.RETIREE, Category.TALENT_DISPATCH, Category.UNDERGRADUATE,
    Category.JUNIOR_COLLEGE, Category.MASTER, Category.DOCTORAL, Category.INTL_EXCHANGE,
})
STUDENT_CATEGORIES = frozenset({
    Category.UNDERGRADUATE, Category.JUNIOR_COLLEGE, Category.MASTER, Category.DOCTORAL,
    Category.INTL_EXCHANGE,
})
POSTGRADUATE_CATEGORIES = frozenset({Category.MASTER, Category.DOCTORAL})


class Entry(models.TextChoices):
    SPRING = "spring", _("Spring entry")
    AUTUMN = "autumn", _("Autumn entry")


class Cardholder(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        CLOSED = "closed", _("Closed")

    number = models.CharField(_("staff/student number"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=64)
    id_number = models.CharField(_("ID number"), max_length=32, blank=True)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    entry = models.CharField(_("postgraduate entry"), max_length=6, choices=Entry.choices, blank=True)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, verbose_name=_("unit"), null=True, blank=True)
    start_date = models.DateField(_("study/employment start"), null=True, blank=True)
    end_date = models.DateField(_("expected graduation / end of employment"), null=True, blank=True)
    bank_card_no = models.CharField(_("bank card for refunds"), max_length=32, blank=True)
    # The kiosk resets a forgotten query password on the ID number and this number together.
    phone = models.CharField(_("registered mobile number"), max_length=20, blank=True)
    photo = models.ImageField(_("photo"), upload_to="photos/%Y/", blank=True)
    kiosk_password = models.CharField(_("kiosk query password"), max_length=128, blank=True, editable=False)
    kiosk_failures = models.PositiveSmallIntegerField(default=0, editable=False)
    kiosk_locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("cardholder")
        verbose_name_plural = _("cardholders")
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                # sorted: a frozenset's order changes between runs, and so would the migration.
                condition=Q(entry="") | Q(category__in=sorted(c.value for c in POSTGRADUATE_CATEGORIES)),
                name="entry_only_for_postgraduates",
            ),
        ]

    def __str__(self):
        return f"{self.number} {self.name}"

    @property
    def id_number_masked(self) -> str:
        n = self.id_number
        if len(n) <= 8:
            return "*" * len(n)
        return n[:4] + "*" * (len(n) - 8) + n[-4:]


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        PURSE = "purse", _("Cardholder purse")
        CARD_FEE = "card_fee", _("Card-fee special account")
        MGMT_FEE = "mgmt_fee", _("Management-fee special account")
        SURCHARGE = "surcharge", _("Catering surcharge payable")
        CASH = "cash", _("Cash on hand (top-up operator)")
        BANK = "bank", _("Bank clearing")
        SUSPENSE = "suspense", _("Suspense")
        MERCHANT = "merchant", _("Merchant payable")
        # Money the online payment channel (WeChat Pay / Alipay style) owes the school until it pays out.
        CHANNEL = "channel", _("Payment channel clearing")
        # Subsidies (补助): the school's funding, debited when a batch is issued, and what the
        # system owes holders for subsidies issued but not yet claimed at a top-up point.
        SUBSIDY_FUND = "sub_fund", _("Subsidy funding (school budget)")
        SUBSIDY = "subsidy", _("Subsidies issued, not yet claimed")

    # +1: debit-normal (assets); -1: credit-normal (what the system owes).
    NORMAL = {
        Kind.PURSE: -1, Kind.CARD_FEE: -1, Kind.MGMT_FEE: -1, Kind.SURCHARGE: -1,
        Kind.MERCHANT: -1, Kind.CASH: 1, Kind.BANK: 1, Kind.SUSPENSE: 1, Kind.CHANNEL: 1,
        Kind.SUBSIDY_FUND: 1, Kind.SUBSIDY: -1,
    }
    SINGLETONS = (Kind.CARD_FEE, Kind.MGMT_FEE, Kind.SURCHARGE, Kind.BANK, Kind.SUSPENSE, Kind.CHANNEL)

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    normal = models.SmallIntegerField(_("normal side"), choices=[(1, _("debit")), (-1, _("credit"))])
    balance = models.BigIntegerField(_("balance (fen)"), default=0)
    operator = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="cash_account", verbose_name=_("top-up operator"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        ordering = ["id"]
        constraints = [
            # A purse never goes below zero through a host-side operation.
            models.CheckConstraint(condition=~Q(kind="purse") | Q(balance__gte=0), name="purse_not_negative"),
            models.CheckConstraint(condition=Q(normal__in=[1, -1]), name="normal_is_sign"),
            models.UniqueConstraint(
                fields=["kind"], condition=Q(kind__in=["card_fee", "mgmt_fee", "surcharge", "bank", "suspense", "channel"]),
                name="one_system_account_per_kind",
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class Purse(models.Model):
    """The stored-value purse: a ledger account plus what the host knows of the card side.

    balance (库) lives on the ledger account. card_counter/card_balance are the last state read
    from the card (卡); pending (过渡余额) is credit booked at the host that no card holds yet.
    """

    account = models.OneToOneField(LedgerAccount, on_delete=models.PROTECT, related_name="purse",
                                   verbose_name=_("ledger account"))
    holder = models.OneToOneField(
        Cardholder, on_delete=models.PROTECT, null=True, blank=True, related_name="purse",
        verbose_name=_("cardholder"),
    )
    card_counter = models.IntegerField(_("last card counter seen"), default=0)
    card_balance = models.BigIntegerField(_("last card balance seen (fen)"), default=0)
    pending = models.BigIntegerField(_("pending credit (fen)"), default=0)
    card_seen_at = models.DateTimeField(_("card last seen"), null=True, blank=True)

    class Meta:
        verbose_name = _("purse")
        verbose_name_plural = _("purses")

    def __str__(self):
        return self.account.code


class Journal(models.Model):
    class Kind(models.TextChoices):
        CARD_FEE = "card_fee", _("Card fee")
        DEPOSIT = "deposit", _("Deposit")
        PURCHASE = "purchase", _("Purchase")
        REFUND = "refund", _("Refund")
        ADJUSTMENT = "adjustment", _("Adjustment")
        PAYOUT = "payout", _("Balance payout")
        TRANSFER = "transfer", _("Transfer")
        # Money in (issue 13): a bank transfer (圈存转帐, M§11), an online top-up, and a difference
        # between the bank's statement and the campus records moved to suspense (R-ADJ-1).
        BANK_IN = "bank_in", _("Bank transfer")
        ONLINE_TOPUP = "online_topup", _("Online top-up")
        RECON = "recon", _("Statement difference")
        SUBSIDY = "subsidy", _("Subsidy issued")
        SUBSIDY_CLAIM = "sub_claim", _("Subsidy claimed")
        SUBSIDY_EXPIRE = "sub_expire", _("Unclaimed subsidy reversed")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    business_day = models.DateField(_("business day"), db_index=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("actor")
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    # Idempotency key: a second journal for the same source is refused by the database.
    source = models.CharField(_("source"), max_length=80, unique=True, null=True, blank=True)

    class Meta:
        verbose_name = _("journal")
        verbose_name_plural = _("journals")
        ordering = ["-id"]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()}"


class Posting(models.Model):
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, related_name="postings", verbose_name=_("journal"))
    # Indexed by (account, journal) (Meta), which leads with it: a second index on the account
    # alone cost every posting an index insert for nothing (migration 0013).
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings",
                                verbose_name=_("ledger account"), db_index=False)
    amount = models.BigIntegerField(_("amount (fen, debit +, credit −)"))

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="posting_not_zero")]
        indexes = [models.Index(fields=["account", "journal"])]

    def __str__(self):
        return f"{self.account_id}: {self.amount:+d}"


class CardType(models.IntegerChoices):
    # The values are the card_type byte of POS-PROTOCOL.md.
    FORMAL = 1, _("Formal card")
    ORDINARY = 2, _("Ordinary card")
    CONSUMPTION = 3, _("Consumption card")


class CardStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    LOST = "lost", _("Lost")
    FROZEN = "frozen", _("Frozen")
    EXPIRED = "expired", _("Expired")
    CLOSED = "closed", _("Closed")
    REPLACED = "replaced", _("Replaced")


LIVE_STATUSES = ("active", "lost", "frozen", "expired")


class IssueBatch(models.Model):
    """A unit's batch application for ordinary or consumption cards (R-ISSUE-2)."""

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, verbose_name=_("unit"))
    card_type = models.PositiveSmallIntegerField(_("card type"), choices=CardType.choices)
    filename = models.CharField(_("file"), max_length=200, blank=True)
    rows = models.PositiveIntegerField(_("cards"), default=0)
    fee_total = models.BigIntegerField(_("fees (fen)"), default=0)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("actor"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("issue batch")
        verbose_name_plural = _("issue batches")
        ordering = ["-id"]

    def __str__(self):
        return f"#{self.pk} {self.unit.name} {self.get_card_type_display()} × {self.rows}"


class Card(models.Model):
    card_no = models.BigIntegerField(_("card number"), unique=True)
    card_type = models.PositiveSmallIntegerField(_("card type"), choices=CardType.choices)
    holder = models.ForeignKey(
        Cardholder, on_delete=models.PROTECT, null=True, blank=True, related_name="cards",
        verbose_name=_("cardholder"),
    )
    purse = models.ForeignKey(Purse, on_delete=models.PROTECT, related_name="cards", verbose_name=_("purse"))
    status = models.CharField(_("status"), max_length=10, choices=CardStatus.choices, default=CardStatus.ACTIVE)
    issued_on = models.DateField(_("issued on"))
    valid_until = models.DateField(_("valid until"))
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("unit"))
    batch = models.ForeignKey(IssueBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="cards",
                              verbose_name=_("batch"))
    replaces = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="replaced_by",
        verbose_name=_("replaces card"),
    )
    label = models.CharField(_("label"), max_length=64, blank=True)
    # Functions switched on by connected subsystems (R-CARD-5, R-SUB-1), e.g. ["library"].
    functions = models.JSONField(_("subsystem functions"), default=list, blank=True)
    status_changed_at = models.DateTimeField(_("status changed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = _("cards")
        ordering = ["-id"]
        constraints = [
            # R-CARD-2, R-CARD-3: one live formal and one live ordinary card per person.
            models.UniqueConstraint(
                fields=["holder", "card_type"],
                condition=Q(status__in=LIVE_STATUSES) & Q(card_type__in=[1, 2]),
                name="one_live_card_per_type",
            ),
            # R-CARD-4: consumption cards are anonymous; the others are real-name.
            models.CheckConstraint(
                condition=(Q(card_type=3) & Q(holder__isnull=True)) | (Q(card_type__in=[1, 2]) & Q(holder__isnull=False)),
                name="holder_matches_type",
            ),
            models.CheckConstraint(condition=Q(card_no__gt=0) & Q(card_no__lte=4294967295), name="card_no_fits_u32"),
        ]
        permissions = [
            ("issue_card", _("Can issue cards")),
            ("import_batch", _("Can import batch applications")),
            ("report_loss", _("Can report and reverse card loss")),
            ("freeze_card", _("Can freeze and unfreeze cards")),
            ("replace_card", _("Can replace cards")),
            ("extend_card", _("Can extend card validity")),
            ("close_account", _("Can close accounts and pay out balances")),
            ("adjust_account", _("Can make account adjustments")),
            ("deposit_cash", _("Can take cash deposits at the counter")),
        ]

    def __str__(self):
        return str(self.card_no)

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class BlockListEntry(models.Model):
    """One change of the terminals' block list (R-TERM-3). Versions rise strictly, in commit order."""

    version = models.BigAutoField(_("version"), primary_key=True)
    card_no = models.BigIntegerField(_("card number"), db_index=True)
    op = models.PositiveSmallIntegerField(_("operation"), choices=[(1, _("block")), (0, _("unblock"))])
    reason = models.CharField(_("reason"), max_length=10)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("block-list entry")
        verbose_name_plural = _("block-list entries")
        ordering = ["version"]

    def __str__(self):
        return f"v{self.version} {self.card_no} {self.get_op_display()}"


class AuditLog(models.Model):
    """Who, when, what and why for every change to a card, an account or money (M§46)."""

    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("actor")
    )
    channel = models.CharField(_("channel"), max_length=12, default="staff")  # staff, kiosk, system, terminal
    action = models.CharField(_("action"), max_length=40, db_index=True)
    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, null=True, blank=True, related_name="audit",
                               verbose_name=_("cardholder"))
    card = models.ForeignKey(Card, on_delete=models.PROTECT, null=True, blank=True, related_name="audit",
                             verbose_name=_("card"))
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("journal"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-id"]

    def __str__(self):
        from .admin_views import audit_action_label  # the words for the action (a late import: they sit there)

        return f"{self.at:%Y-%m-%d %H:%M} {audit_action_label(self.action)}"


class FeeSchedule(models.Model):
    """Fees the school sets, with effective dates (R-FEE-2, R-FEE-3): never constants in code."""

    class Kind(models.TextChoices):
        NEW_CARD = "new_card", _("Ordinary/consumption card fee")
        REPLACEMENT = "replacement", _("Replacement fee")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    amount = models.BigIntegerField(_("amount (fen)"))
    effective_from = models.DateField(_("effective from"))

    class Meta:
        verbose_name = _("fee")
        verbose_name_plural = _("fee schedule")
        ordering = ["kind", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "effective_from"], name="one_fee_per_day"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="fee_not_negative"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} ({self.effective_from})"


class ClosedDay(models.Model):
    """A business day whose daily close (对帐日结, R-DAY-1) has run: immutable from then on.
    The ledger posts nothing more to it; a late journal goes to the next open day (accounts.daybook)."""

    day = models.DateField(_("business day"), primary_key=True)
    closed_at = models.DateTimeField(_("closed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("closed day")
        verbose_name_plural = _("closed days")
        ordering = ["-day"]

    def __str__(self):
        return str(self.day)


class AdjustmentLimit(models.Model):
    """The most one adjustment (R-ADJ-1) may move, set by the school as data with an effective
    date like a fee: a single finance user once put 9,999,999,999.99 yuan on a purse in one step."""

    amount = models.BigIntegerField(_("at most, per adjustment (fen)"))
    effective_from = models.DateField(_("effective from"), unique=True)

    class Meta:
        verbose_name = _("adjustment limit")
        verbose_name_plural = _("adjustment limits")
        ordering = ["-effective_from"]
        constraints = [
            # Positive, and far below what a bigint balance holds even summed over many approvals.
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(amount__lte=10_000_000_000), name="adjustment_limit_range"),
        ]

    def __str__(self):
        return f"{self.amount} ({self.effective_from})"


class AdjustmentRequest(models.Model):
    """Every adjustment of R-ADJ-1 (all four kinds, from the holder page, the finance desk or the
    admin): asked for by one person and posted only when another approves it (maker-checker)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved and posted")
        REJECTED = "rejected", _("Rejected")

    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, related_name="adjustment_requests",
                               verbose_name=_("cardholder"))
    kind = models.CharField(_("adjustment"), max_length=20)
    amount = models.BigIntegerField(_("amount (fen)"))
    reason = models.CharField(_("reason"), max_length=200)
    bank_ref = models.CharField(_("bank record"), max_length=60, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("asked by"))
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("note"), max_length=200, blank=True)
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("adjustment request")
        verbose_name_plural = _("adjustment requests")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="adjustment_request_positive"),
            # Maker-checker in the database too: whoever asked never decides, superusers included.
            models.CheckConstraint(condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")),
                                   name="adjustment_four_eyes"),
            models.CheckConstraint(condition=Q(status="pending", decided_by__isnull=True, journal__isnull=True)
                                   | Q(status="approved", decided_by__isnull=False, journal__isnull=False)
                                   | Q(status="rejected", decided_by__isnull=False, journal__isnull=True),
                                   name="adjustment_decided_consistently"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.kind} {self.amount}"


class Intake(models.Model):
    """One intake of freshmen or staff from the student information system or the personnel
    office (a CSV/XLSX file at the desk, or the registry's API call): every row is checked and
    shown before anything is written; applying then creates or updates the holders."""

    class Status(models.TextChoices):
        PREVIEW = "preview", _("Checked, waiting for confirmation")
        APPLYING = "applying", _("Being applied")
        DONE = "done", _("Applied")
        CANCELLED = "cancelled", _("Cancelled")

    class Source(models.TextChoices):
        FILE = "file", _("File at the desk")
        API = "api", _("Registry API")

    source = models.CharField(_("source"), max_length=4, choices=Source.choices, default=Source.FILE)
    filename = models.CharField(_("file"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PREVIEW)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_bad = models.PositiveIntegerField(_("rows with errors"), default=0)
    rows_done = models.PositiveIntegerField(_("rows applied"), default=0)
    created = models.PositiveIntegerField(_("holders created"), default=0)
    updated = models.PositiveIntegerField(_("holders updated"), default=0)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("actor"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("intake")
        verbose_name_plural = _("intakes")
        ordering = ["-id"]

    def __str__(self):
        return f"#{self.pk} {self.filename or self.get_source_display()}"


class IntakeRow(models.Model):
    class Action(models.TextChoices):
        CREATE = "create", _("New holder")
        UPDATE = "update", _("Update")
        SAME = "same", _("Unchanged")
        ERROR = "error", _("Error")

    intake = models.ForeignKey(Intake, on_delete=models.CASCADE, related_name="lines")
    row_no = models.PositiveIntegerField(_("row"))
    action = models.CharField(_("action"), max_length=6, choices=Action.choices)
    # The cleaned fields as text (dates ISO); `changes` names the fields an update changes.
    data = models.JSONField(_("data"), default=dict)
    changes = models.JSONField(_("changes"), default=list, blank=True)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    photo = models.CharField(_("photo"), max_length=200, blank=True)  # staged file in default storage
    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    applied = models.BooleanField(_("applied"), default=False)

    class Meta:
        verbose_name = _("intake row")
        verbose_name_plural = _("intake rows")
        ordering = ["intake", "row_no"]
        constraints = [models.UniqueConstraint(fields=["intake", "row_no"], name="one_intake_row_per_number")]

    def __str__(self):
        return f"{self.intake_id}:{self.row_no}"


from .subsidy_models import SubsidyBatch, SubsidyLine  # noqa: E402,F401  (models of accounts, kept apart)
