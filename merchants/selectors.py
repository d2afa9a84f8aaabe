"""Reads of merchants, their users and their forms."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from .models import Application, ApproverRole, Merchant, MerchantUser
from .setup import CENTRE_GROUP, FINANCE_GROUP, UNIT_APPROVER_GROUP


def merchant_get(*, code: str) -> Merchant | None:
    if "\x00" in (code or ""):
        return None  # PostgreSQL refuses NUL in text: no code holds one, so no merchant (not a 500)
    return Merchant.objects.select_related("payable_account").filter(code=code).first()


def merchant_for_user(*, user) -> Merchant | None:
    """The one merchant a merchant user belongs to, or None (staff, removed users): the portal
    scopes everything to it (R-MER-4)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    link = (MerchantUser.objects.select_related("merchant__payable_account")
            .filter(user=user, active=True).first())
    return link.merchant if link else None


def merchant_users(*, merchant: Merchant) -> QuerySet[MerchantUser]:
    return merchant.users.filter(active=True).select_related("user")


def merchants_active() -> QuerySet[Merchant]:
    """Merchants that take cards now."""
    return Merchant.objects.filter(status=Merchant.Status.ACTIVE)


def merchants_for_settlement() -> QuerySet[Merchant]:
    """Every merchant that may still have money to settle: also suspended, revoked and cancelled
    ones (their last period is settled after they stop); only never-approved ones are left out."""
    return Merchant.objects.exclude(status=Merchant.Status.PENDING).select_related("payable_account")


def applications_for_merchant(*, merchant: Merchant) -> QuerySet[Application]:
    return merchant.applications.select_related("submitted_by").prefetch_related("steps__approver")


def application_trail(*, application: Application):
    return application.steps.select_related("approver").order_by("seq")


def applications_awaiting(*, user) -> QuerySet[Application]:
    """Open forms whose current step this user's role decides (their inbox)."""
    from django.db.models import Exists, OuterRef

    from .models import ApprovalStep, UnitApprover

    if user is None or not user.is_active:
        return Application.objects.none()
    roles = Q(pk__in=[])
    if user.is_superuser or user.groups.filter(name=CENTRE_GROUP).exists():
        roles |= Q(role=ApproverRole.CENTRE)
    if user.is_superuser or user.groups.filter(name=FINANCE_GROUP).exists():
        roles |= Q(role=ApproverRole.FINANCE)
    if user.is_superuser:
        roles |= Q(role=ApproverRole.UNIT)
    elif user.groups.filter(name=UNIT_APPROVER_GROUP).exists():
        units = UnitApprover.objects.filter(user=user).values("unit_id")
        roles |= Q(role=ApproverRole.UNIT, application__merchant__unit_id__in=units)
    current = ApprovalStep.objects.filter(roles, application=OuterRef("pk"), seq=OuterRef("step"))
    return (Application.objects.filter(status=Application.Status.PENDING).filter(Exists(current))
            .exclude(submitted_by=user).select_related("merchant", "submitted_by"))


def users_with_role(*, role: str, merchant: Merchant):
    """Everyone who could decide a step of `role` for `merchant` (for notices)."""
    users = get_user_model().objects.filter(is_active=True)
    if role == ApproverRole.UNIT:
        return users.filter(groups__name=UNIT_APPROVER_GROUP, unit_approvals__unit_id=merchant.unit_id).distinct()
    return users.filter(groups__name={ApproverRole.CENTRE: CENTRE_GROUP, ApproverRole.FINANCE: FINANCE_GROUP}[role]).distinct()


def merchant_facts(*, merchant_ids=None) -> dict[int, dict]:
    """merchant id -> {kind, payable_account_id, code, name}, for settlement's set-based reads."""
    qs = Merchant.objects.all()
    if merchant_ids is not None:
        qs = qs.filter(pk__in=list(merchant_ids))
    return {
        m: {"kind": k, "payable_account_id": a, "code": c, "name": n}
        for m, k, a, c, n in qs.values_list("id", "kind", "payable_account_id", "code", "name")
    }


def merchant_by_payable(*, account_ids) -> dict[int, int]:
    """payable ledger account id -> merchant id."""
    return dict(Merchant.objects.filter(payable_account_id__in=list(account_ids)).values_list("payable_account_id", "id"))


def merchant_user_belongs(*, user, merchant_id: int) -> bool:
    """Whether `user` is an active user of that merchant (a merchant user acts for its own only, R-MER-4)."""
    if user is None or not user.is_active or merchant_id is None:
        return False
    return MerchantUser.objects.filter(user=user, merchant_id=merchant_id, active=True).exists()
