"""Merchants (商户, the regulation's 系统用户), their users, and their paper forms as records with
an approval trail (U§5–§24, M§37). Rows are written only through merchants.services."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import LedgerAccount, Unit


class MerchantKind(models.IntegerChoices):
    # The values are merchant_kind of POS-PROTOCOL.md (0xB0 PARAMS).
    DINING = 1, _("Dining")
    WATER = 2, _("Water control")
    RETAIL = 3, _("Retail/other")
    TOPUP = 4, _("Top-up point")


# Where a merchant's settlement is paid (M§42): changed only by an approved business change form
# (merchants.services._carry_out), never by staff editing the record, and a database trigger
# (migration 0003) refuses any other UPDATE of them: card-centre staff could redirect a payout.
PAYOUT_FIELDS = ("bank_name", "bank_account_name", "bank_account_no")


def mask_account_no(number: str) -> str:
    """A bank account number for lists: only the last four digits show."""
    number = (number or "").replace(" ", "")
    if not number:
        return ""
    return "*" * max(len(number) - 4, 4) + number[-4:]


class Merchant(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Applied, not yet approved")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        REVOKED = "revoked", _("Revoked")
        CLOSED = "closed", _("Cancelled")

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.PositiveSmallIntegerField(_("kind"), choices=MerchantKind.choices)
    # R-MER-2: a school unit's merchant gets its terminals free (school assets, U§7); an external
    # one pays for them and owns them.
    internal = models.BooleanField(_("internal (school unit)"), default=True)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="merchants",
                             verbose_name=_("managing unit"))
    payable_account = models.OneToOneField(
        LedgerAccount, on_delete=models.PROTECT, related_name="merchant", verbose_name=_("payable account")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # R-SET-1: monthly unless finance agreed another period with the merchant (M§42).
    settlement_months = models.PositiveSmallIntegerField(
        _("settlement period (months)"), default=1, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    bank_name = models.CharField(_("bank"), max_length=100, blank=True)
    bank_account_name = models.CharField(_("bank account name"), max_length=100, blank=True)
    bank_account_no = models.CharField(_("bank account number"), max_length=40, blank=True)
    location = models.CharField(_("location"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["code"]
        permissions = [
            ("use_portal", _("Can use the merchant portal")),
            ("revoke_merchant", _("Can start the revocation of a merchant")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(settlement_months__gte=1, settlement_months__lte=12),
                                   name="settlement_months_1_to_12"),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def can_take_cards(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def bank_account_masked(self) -> str:
        return mask_account_no(self.bank_account_no)

    @property
    def settlement_contact(self):
        """The merchant user who handles settlement (M§37 指定专人负责商户结算), or None."""
        return (self.users.filter(role=MerchantUser.Role.CONTACT, active=True).select_related("user").first())


class MerchantUser(models.Model):
    """A login that belongs to one merchant; the portal shows it that merchant only (R-MER-4)."""

    class Role(models.TextChoices):
        CONTACT = "contact", _("Settlement contact")
        CASHIER = "cashier", _("Cashier")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="merchant_link",
                                verbose_name=_("user"))
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="users", verbose_name=_("merchant"))
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.CASHIER)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("merchant user")
        verbose_name_plural = _("merchant users")
        ordering = ["merchant", "role", "user"]
        constraints = [
            models.UniqueConstraint(fields=["merchant"], condition=Q(role="contact", active=True),
                                    name="one_settlement_contact_per_merchant"),
        ]

    def __str__(self):
        return f"{self.user} ({self.merchant.code}, {self.get_role_display()})"


class UnitApprover(models.Model):
    """An officer of a managing unit (主管部门) who signs its merchants' forms (U§5, U§6, U§19)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="unit_approvals",
                             verbose_name=_("user"))
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="approvers", verbose_name=_("unit"))

    class Meta:
        verbose_name = _("unit approver")
        verbose_name_plural = _("unit approvers")
        constraints = [models.UniqueConstraint(fields=["user", "unit"], name="unit_approver_once")]

    def __str__(self):
        return f"{self.user} @ {self.unit}"


class ApplicationKind(models.TextChoices):
    ACCESS = "access", _("Access application (U§5)")
    DEVICE = "device", _("Device requisition (U§6)")
    CHANGE = "change", _("Business change (U§13)")
    CANCEL = "cancel", _("Cancellation (U§15)")
    FAULT = "fault", _("Fault report (U§16)")
    OFFLINE = "offline", _("Offline authorisation (U§17)")
    REVOKE = "revoke", _("Revocation by the centre (U§24)")


class ApproverRole(models.TextChoices):
    UNIT = "unit", _("Managing unit")
    CENTRE = "centre", _("Card centre")
    FINANCE = "finance", _("Finance")


class Application(models.Model):
    """One paper form of the regulations. Its approval steps are fixed when it is submitted."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    kind = models.CharField(_("form"), max_length=10, choices=ApplicationKind.choices)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="applications",
                                 verbose_name=_("merchant"))
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("submitted by"))
    submitted_at = models.DateTimeField(_("submitted at"), auto_now_add=True)
    payload = models.JSONField(_("form contents"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    step = models.PositiveSmallIntegerField(_("current step"), default=0)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["-submitted_at", "-id"]
        permissions = [
            ("submit_application", _("Can submit merchant forms")),
            ("decide_application", _("Can approve or reject merchant forms")),
        ]
        indexes = [models.Index(fields=["status", "kind"])]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()} {self.merchant.code}"

    @property
    def reference(self) -> str:
        return f"{self.kind.upper()}-{self.pk:06d}"

    def current_step(self):
        if self.status != self.Status.PENDING:
            return None
        return self.steps.filter(seq=self.step).first()

    def approver_for(self, role: str):
        """Who approved the step of `role` (the centre carries out terminal changes)."""
        step = self.steps.filter(role=role, decision=ApprovalStep.Decision.APPROVE).order_by("-seq").first()
        return step.approver if step else None


class ApprovalStep(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", _("Approved")
        REJECT = "reject", _("Rejected")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="steps",
                                    verbose_name=_("application"))
    seq = models.PositiveSmallIntegerField(_("step"))
    role = models.CharField(_("role"), max_length=10, choices=ApproverRole.choices)
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("approver"))
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices, blank=True)
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    at = models.DateTimeField(_("at"), null=True, blank=True)

    class Meta:
        verbose_name = _("approval step")
        verbose_name_plural = _("approval steps")
        ordering = ["application", "seq"]
        constraints = [models.UniqueConstraint(fields=["application", "seq"], name="one_step_per_seq")]

    def __str__(self):
        return f"{self.application_id}/{self.seq} {self.get_role_display()}"
