"""Reads for the daily close, settlements, refunds and closures."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from accounts.models import Cardholder, Category
from merchants.models import Merchant

from .models import CloseException, DayClose, Statement

S = Statement.Status


def merchant_facts(*, merchant_ids=None) -> dict[int, dict]:
    """merchant id -> {kind, payable_account_id, code, name}. (A read of merchants/ that belongs in
    merchants.selectors; kept here until that app offers it.)"""
    qs = Merchant.objects.all()
    if merchant_ids is not None:
        qs = qs.filter(pk__in=list(merchant_ids))
    return {
        m: {"kind": k, "payable_account_id": a, "code": c, "name": n}
        for m, k, a, c, n in qs.values_list("id", "kind", "payable_account_id", "code", "name")
    }


def merchant_by_payable(*, account_ids) -> dict[int, int]:
    return dict(Merchant.objects.filter(payable_account_id__in=list(account_ids)).values_list("payable_account_id", "id"))


def day_close_get(*, day: dt.date) -> DayClose | None:
    return DayClose.objects.filter(day=day).first()


def day_exceptions_open(*, day: dt.date | None = None) -> QuerySet[CloseException]:
    qs = CloseException.objects.filter(resolved_at__isnull=True)
    return qs.filter(day=day) if day else qs


def statements_for(*, period_start: dt.date, period_end: dt.date) -> QuerySet[Statement]:
    return Statement.objects.filter(period_start=period_start, period_end=period_end).select_related("merchant")


def application_window(period_end: dt.date) -> tuple[dt.date, dt.date]:
    """The 11th–20th of the month after the period (U§11, R-SET-3)."""
    first = (period_end.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first.replace(day=11), first.replace(day=20)


def statements_late(*, today: dt.date) -> list[dict]:
    """What staff and finance must chase: not applied for after the window closed, applied but
    not checked, checked but not approved, approved but not paid, five days after each step."""
    out = []
    grace = dt.timedelta(days=5)
    qs = Statement.objects.exclude(status=S.PAID).select_related("merchant").order_by("period_start", "merchant_id")
    for st in qs:
        _, window_end = application_window(st.period_end)
        reason = None
        if st.status == S.OPEN and st.kind == Statement.Kind.MERCHANT and today > window_end:
            reason = "not_applied"
        elif st.status == S.APPLIED and st.applied_at and today > st.applied_at.date() + grace:
            reason = "not_checked"
        elif st.status == S.CHECKED and st.checked_at and today > st.checked_at.date() + grace:
            reason = "not_approved"
        elif st.status == S.APPROVED and st.approved_at and today > st.approved_at.date() + grace:
            reason = "not_paid"
        if reason:
            out.append({"statement": st, "reason": reason})
    return out


def graduation_cohort(*, graduation_year: int, unit_id: int | None = None) -> QuerySet[Cardholder]:
    """Undergraduate and junior-college holders graduating in `graduation_year` whose accounts
    are still open (R-CLOSE-2). (A read of accounts/ that belongs in accounts.selectors.)"""
    qs = Cardholder.objects.filter(
        status=Cardholder.Status.ACTIVE, category__in=[Category.UNDERGRADUATE, Category.JUNIOR_COLLEGE],
        end_date__year=graduation_year,
    )
    if unit_id is not None:
        qs = qs.filter(unit_id=unit_id)
    return qs.select_related("purse__account").order_by("number")


def statements_payable(*, period_start: dt.date | None = None, period_end: dt.date | None = None) -> QuerySet[Statement]:
    """Approved or paid statements with money to pay: the payout list."""
    qs = Statement.objects.filter(Q(status=S.APPROVED) | Q(status=S.PAID)).filter(net__gt=0).select_related("merchant")
    if period_start:
        qs = qs.filter(period_start=period_start, period_end=period_end)
    return qs.order_by("period_start", "kind", "merchant__code")
