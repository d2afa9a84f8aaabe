"""Terminal registry, received batches and records, and what posting found wrong.

A record is identified by (terminal, term_seq) and is written once, at intake, before the
BATCH_ACK; posting changes only its status and journal. See docs/protocol.md.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Journal
from merchants.models import Merchant, MerchantKind


class Terminal(models.Model):
    """A POS terminal; its pk is the protocol's terminal_id (u32)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DISABLED = "disabled", _("Disabled")
        RETIRED = "retired", _("Retired")

    class Owner(models.TextChoices):
        SCHOOL = "school", _("School asset")
        MERCHANT = "merchant", _("External merchant's own")

    kind = models.PositiveSmallIntegerField(_("kind"), choices=MerchantKind.choices)
    key = models.BinaryField(_("key"), max_length=32, editable=False)
    key_rotated_at = models.DateTimeField(_("key issued at"), auto_now_add=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    owner = models.CharField(_("owner"), max_length=10, choices=Owner.choices, default=Owner.SCHOOL)
    asset_no = models.CharField(_("asset number"), max_length=40, blank=True)
    requisition_ref = models.CharField(_("requisition form"), max_length=40, blank=True)
    location = models.CharField(_("location"), max_length=100, blank=True)
    # Limits sent in PARAMS (0xB0).
    max_single = models.PositiveIntegerField(_("largest single purchase (fen)"), default=50000)
    max_offline_daily = models.PositiveIntegerField(_("offline limit per card per day (fen)"), default=10000)
    min_interval_s = models.PositiveSmallIntegerField(_("duplicate guard (s)"), default=10)
    params_rev = models.PositiveIntegerField(default=1, editable=False)
    # What the terminal last told us (its own word, never what we sent).
    ack_upto = models.BigIntegerField(_("acknowledged up to"), default=0)
    last_seq = models.BigIntegerField(_("last sequence reported"), default=0)
    unsent = models.BigIntegerField(_("unsent records reported"), default=0)
    firmware_version = models.PositiveIntegerField(_("firmware"), default=0)
    blocklist_version = models.BigIntegerField(_("block-list version applied"), default=0)
    blocklist_version_at = models.DateTimeField(_("block list applied at"), null=True, blank=True)
    params_version = models.BigIntegerField(_("parameters version held"), default=0)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    created_at = models.DateTimeField(_("registered at"), auto_now_add=True)

    class Meta:
        verbose_name = _("terminal")
        verbose_name_plural = _("terminals")
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(id__lte=4294967295), name="terminal_id_fits_u32")]

    def __str__(self):
        return f"T{self.pk}"


class Assignment(models.Model):
    """Which merchant a terminal served, and when (R-TERM-1)."""

    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="assignments",
                                 verbose_name=_("terminal"))
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="assignments",
                                 verbose_name=_("merchant"))
    valid_from = models.DateTimeField(_("from"))
    valid_to = models.DateTimeField(_("to"), null=True, blank=True)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["terminal", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["terminal"], condition=Q(valid_to__isnull=True), name="one_open_assignment")
        ]

    def __str__(self):
        return f"T{self.terminal_id} → {self.merchant_id} ({self.valid_from:%Y-%m-%d})"


class OfflineAuthorisation(models.Model):
    """The centre authorises offline operation of a terminal for a period (R-TERM-2, U§17)."""

    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="offline_periods")
    valid_from = models.DateTimeField(_("from"))
    valid_to = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=200)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)

    class Meta:
        verbose_name = _("offline authorisation")
        verbose_name_plural = _("offline authorisations")
        constraints = [models.CheckConstraint(condition=Q(valid_to__gt=models.F("valid_from")), name="offline_period_order")]

    def __str__(self):
        return f"T{self.terminal_id} {self.valid_from:%Y-%m-%d %H:%M} – {self.valid_to:%Y-%m-%d %H:%M}"


class SurchargeRate(models.Model):
    """Board and energy fees (R-SUR-1) and the water multiplier (R-SUR-2), with effective dates."""

    effective_from = models.DateTimeField(_("effective from"), unique=True)
    board_fee_bp = models.PositiveSmallIntegerField(_("board fee (basis points)"))
    energy_fee_bp = models.PositiveSmallIntegerField(_("energy fee (basis points)"))
    water_multiplier_pct = models.PositiveSmallIntegerField(_("water price, % of formal"))

    class Meta:
        verbose_name = _("surcharge rate")
        verbose_name_plural = _("surcharge rates")
        ordering = ["-effective_from"]
        constraints = [models.CheckConstraint(condition=Q(water_multiplier_pct__gte=100), name="water_at_least_formal")]

    def __str__(self):
        return f"{self.effective_from:%Y-%m-%d}: {self.board_fee_bp}+{self.energy_fee_bp} bp, water {self.water_multiplier_pct}%"


class PostingSettings(models.Model):
    """Tolerances for card-vs-account disagreements (卡库不平), set by staff; one row."""

    mismatch_fen = models.PositiveIntegerField(_("freeze when the difference exceeds (fen)"), default=0)
    mismatch_days = models.PositiveSmallIntegerField(_("freeze when unresolved for (days)"), default=3)

    class Meta:
        verbose_name = _("posting settings")
        verbose_name_plural = _("posting settings")

    def __str__(self):
        return f"{self.mismatch_fen} fen / {self.mismatch_days} days"


class Batch(models.Model):
    """One TXN_BATCH frame as received, resends included; committed before the ACK."""

    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="batches", verbose_name=_("terminal"))
    batch_no = models.BigIntegerField(_("batch number"))
    msg_seq = models.BigIntegerField(_("message sequence"))
    raw = models.BinaryField(_("frame"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    count = models.PositiveIntegerField(_("records in the frame"), default=0)
    stored = models.PositiveIntegerField(_("records stored"), default=0)
    duplicates = models.PositiveIntegerField(_("duplicates dropped"), default=0)
    exceptions = models.PositiveIntegerField(_("exceptions"), default=0)
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
        indexes = [models.Index(fields=["posted_at"], condition=Q(posted_at__isnull=True), name="batch_unposted")]

    def __str__(self):
        return f"T{self.terminal_id}/{self.batch_no}"


class Record(models.Model):
    """One record a terminal uploaded, as received, and what posting did with it.

    Posting stores each purchase's split here, in the same statement that posts it; every reader
    (daily close, settlement, refunds, the merchant portal and API, every report) sums these
    columns and none applies a rate or a merchant kind again. In fen, never negative:

    - ``merchant_amount``: what posting credited to the merchant's payable (结算消费额): the base
      price at a dining merchant (R-SUR-1), base + surcharge elsewhere (the water price is the
      merchant's, R-SUR-2).
    - ``surcharge_amount``: what posting credited to the catering surcharge payable (代收搭伙能源费,
      R-SUR-1): the record's surcharge at a dining merchant, 0 elsewhere.
    - ``held_amount``: what posting credited to suspense for a purchase made offline without
      authorisation (status ``held``, R-TERM-2): base + surcharge. The holder paid it, the
      merchant is not owed it, so a held record's merchant_amount and surcharge_amount are 0.

    For a posted or held purchase the three add up to what the card was charged (消费额, base_amount
    + surcharge); every other record (received, exception, rejected, deposits) has all three 0.
    The CHECK constraint ``record_split_adds_up`` holds the database to this.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        POSTED = "posted", _("Posted")
        HELD = "held", _("Posted, held out of settlement")
        EXCEPTION = "exception", _("Exception")
        REJECTED = "rejected", _("Rejected by staff")

    # What integrity needs and what it costs (docs/ingest.md, with EXPLAIN): terminal_id is led by
    # one_record_per_seq and batch_id (records still waiting) by record_received_batch, so neither
    # has an index of its own;
    # the terminal follows from the batch (its FK stays) and is locked by the intake that writes it.
    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="records", verbose_name=_("terminal"),
                                 db_constraint=False, db_index=False)
    term_seq = models.BigIntegerField(_("terminal sequence"))
    # No FK constraint (its check cost 3.4 µs a record at commit): a record names the batch the
    # intake inserted in the same transaction, and batches are never deleted (a trigger refuses).
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="records", verbose_name=_("batch"),
                              db_constraint=False, db_index=False)
    # Indexed with the time by record_card_time (Meta).
    card_no = models.BigIntegerField(_("card number"))
    card_type = models.PositiveSmallIntegerField(_("card type"))
    kind = models.PositiveSmallIntegerField(_("kind"))
    card_counter = models.IntegerField(_("card counter"))
    flags = models.PositiveSmallIntegerField(_("flags"))
    base_amount = models.BigIntegerField(_("base amount (fen)"))
    surcharge = models.BigIntegerField(_("surcharge (fen)"))
    balance_before = models.BigIntegerField(_("balance before (fen)"))
    balance_after = models.BigIntegerField(_("balance after (fen)"))
    time = models.DateTimeField(_("time"))
    operator_no = models.BigIntegerField(_("operator"))
    raw = models.BinaryField()
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RECEIVED)
    problems = models.JSONField(_("problems"), default=list, blank=True)
    # The merchant is read from the terminal's assignment (whose FK keeps the merchant) in the
    # statement that writes the record; journals are immutable (a trigger refuses DELETE) and a
    # record names only the journal created in its own transaction; no reader looks records up by
    # journal. So neither needs a deferred FK check per record at commit.
    # Indexed by record_merchant (Meta), which leads with it.
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("merchant"),
                                 db_constraint=False, db_index=False)
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("journal"),
                                db_constraint=False, db_index=False)
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)
    # Indexed by a BRIN index (Meta): records arrive in day order, so block ranges map to days.
    business_day = models.DateField(_("business day"), null=True, blank=True)
    # The split posting stored (see the class doc); 0 until a purchase is posted.
    merchant_amount = models.BigIntegerField(_("consumption settled (fen)"), db_default=0)
    surcharge_amount = models.BigIntegerField(_("catering surcharge collected (fen)"), db_default=0)
    held_amount = models.BigIntegerField(_("held out (fen)"), db_default=0)

    class Meta:
        verbose_name = _("record")
        verbose_name_plural = _("records")
        constraints = [
            models.UniqueConstraint(fields=["terminal", "term_seq"], name="one_record_per_seq"),
            models.CheckConstraint(name="record_split_adds_up", condition=(
                Q(kind=1, status="posted", held_amount=0, merchant_amount__gte=0, surcharge_amount__gte=0,
                  surcharge_amount__lte=F("surcharge"),
                  merchant_amount=F("base_amount") + F("surcharge") - F("surcharge_amount"))
                | Q(kind=1, status="held", merchant_amount=0, surcharge_amount=0,
                    held_amount=F("base_amount") + F("surcharge"))
                | (~Q(kind=1, status__in=["posted", "held"]) & Q(merchant_amount=0, surcharge_amount=0, held_amount=0))
            )),
        ]
        indexes = [
            # batch_post reads a batch's records still waiting for it; nothing else reads by batch,
            # so only those (few) are indexed: a full (batch, term_seq) index cost ~1.4 µs a record.
            models.Index(fields=["batch", "term_seq"], condition=Q(status="received"), name="record_received_batch"),
            # The day's figures (dashboards, close reports) read by business day. Records are
            # written in arrival order, a day's records lie together: a BRIN index costs next to
            # nothing at intake where a btree cost ~1.4 µs a record. autosummarize asks autovacuum
            # to summarise each new block range; the daily close summarises too (autovacuum may be off).
            BrinIndex(fields=["business_day"], name="record_business_day_brin", autosummarize=True),
            # A merchant's records: the portal's list, and its and the API's revenue
            # (terminals.selectors.revenue._revenue: posted purchases by day, answered from the index
            # alone, kind and status checked in it; bench/web: a canteen has 250,000 a year). One
            # index for both: each btree costs the intake ~0.7 µs a record.
            models.Index(fields=["merchant", "business_day"], include=["terminal", "merchant_amount", "kind", "status"],
                         name="record_merchant"),
            # The intake posts a purse's records itself only when none of its cards has records
            # waiting for batch_post; those are few, so this index is small.
            models.Index(fields=["card_no"], condition=Q(status="received"), name="record_received_card"),
            # A card's records: its history (staff, kiosk), and the duplicate-charge guard's look for
            # the card's last charge at a terminal within the terminal's interval (R-DUP-1), which
            # the time bounds to the few seconds before. On card_no alone that look read every record
            # the card ever had (bench/ingest --history 200: +10 µs a record at intake, one probe per
            # 40 records; a lunch queue probes for nearly every record). The wider key costs the
            # record insert 5-10 % by paired A/B (bench/ingest/ab.py), the price of a look that
            # does not grow with the card's age.
            models.Index(fields=["card_no", "time"], name="record_card_time"),
            # The records posting left as exceptions: the retry every 5 minutes, the daily close's
            # count, the dashboard and the desk read them; without this each read the whole table.
            # Few rows; a record posted is only tested against the condition.
            models.Index(fields=["id"], condition=Q(status="exception"), name="record_exceptions"),
            # The suspected duplicate charges (R-DUP-1) to refund, newest first, the centre's and a
            # merchant's since a date: few rows, where those lists read the whole table, or the
            # merchant's whole past, for them.
            models.Index(fields=["time"], condition=Q(problems__contains=["suspected_duplicate"]),
                         name="record_suspected_duplicates"),
        ]

    def __str__(self):
        return f"T{self.terminal_id}#{self.term_seq}"


class RecordConflict(models.Model):
    """A second version of (terminal, term_seq) with different content: kept, for staff."""

    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="conflicts", verbose_name=_("record"))
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, verbose_name=_("batch"))
    raw = models.BinaryField()
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("conflicting resend")
        verbose_name_plural = _("conflicting resends")

    def __str__(self):
        return f"{self.record} ≠"


class LostRange(models.Model):
    """Records a terminal declared lost (0x11): an exception on its merchant for staff."""

    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="lost_ranges", verbose_name=_("terminal"))
    from_seq = models.BigIntegerField(_("from sequence"))
    to_seq = models.BigIntegerField(_("to sequence"))
    at = models.DateTimeField(_("declared at"), auto_now_add=True)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("merchant"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("records declared lost")
        verbose_name_plural = _("records declared lost")
        constraints = [models.CheckConstraint(condition=Q(to_seq__gte=models.F("from_seq")), name="lost_range_order")]

    def __str__(self):
        return f"T{self.terminal_id} #{self.from_seq}–{self.to_seq}"


class CardFlag(models.Model):
    """Card-vs-account disagreement (卡库不平) found while posting a record (R-FREEZE-1)."""

    class Kind(models.TextChoices):
        COUNTER_GAP = "counter_gap", _("Card counter gap")
        BALANCE = "balance", _("Card balance differs from account")
        BLOCKED_SPENT = "blocked_spent", _("A blocked card was spent")

    card_no = models.BigIntegerField(_("card number"), db_index=True)
    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="flags_raised", verbose_name=_("record"))
    kind = models.CharField(_("kind"), max_length=14, choices=Kind.choices)
    expected = models.BigIntegerField(_("host expected"))
    actual = models.BigIntegerField(_("card said"))
    at = models.DateTimeField(_("raised at"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    verbose_name=_("resolved by"))
    resolution = models.CharField(_("resolution"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("card-vs-account flag")
        verbose_name_plural = _("card-vs-account flags")
        indexes = [models.Index(fields=["resolved_at"], condition=Q(resolved_at__isnull=True), name="cardflag_open")]

    def __str__(self):
        return f"{self.card_no} {self.kind}"
