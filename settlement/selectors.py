"""Reads for the daily close, settlements, refunds and closures."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts import selectors as accounts_selectors
from accounts.models import Cardholder
from merchants import selectors as merchant_selectors
from terminals import selectors as terminal_selectors

from .models import CloseException, ClosureLine, Correction, DayClose, GraduationClosure, Refund, Statement

S = Statement.Status


def merchant_facts(*, merchant_ids=None) -> dict[int, dict]:
    """merchant id -> {kind, payable_account_id, code, name} (merchants.selectors owns the read)."""
    return merchant_selectors.merchant_facts(merchant_ids=merchant_ids)


def merchant_by_payable(*, account_ids) -> dict[int, int]:
    return merchant_selectors.merchant_by_payable(account_ids=account_ids)


def day_close_get(*, day: dt.date) -> DayClose | None:
    return DayClose.objects.filter(day=day).first()


def day_exceptions_open(*, day: dt.date | None = None) -> QuerySet[CloseException]:
    qs = CloseException.objects.filter(resolved_at__isnull=True)
    return qs.filter(day=day) if day else qs


def close_exceptions_open_by_kind() -> list[dict]:
    """Open close exceptions counted by kind, labelled (the dashboard)."""
    counts = dict(CloseException.objects.filter(resolved_at__isnull=True).values_list("kind").annotate(n=Count("id")))
    return [{"kind": k, "label": CloseException.Kind(k).label, "n": n} for k, n in sorted(counts.items())]


def statements_for(*, period_start: dt.date, period_end: dt.date) -> QuerySet[Statement]:
    return Statement.objects.filter(period_start=period_start, period_end=period_end).select_related("merchant")


def application_window(period_end: dt.date) -> tuple[dt.date, dt.date]:
    """The 11th–20th of the month after the period (U§11, R-SET-3)."""
    first = (period_end.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first.replace(day=11), first.replace(day=20)


# Why a statement is late (statements_late): what the finance desk shows for each reason.
LATE_REASONS = {
    "not_applied": _("Not applied for; the application window has closed"),
    "not_checked": _("Applied for, not checked by the centre after 5 days"),
    "not_approved": _("Checked, not approved by finance after 5 days"),
    "not_paid": _("Approved, not paid after 5 days"),
}


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
            out.append({"statement": st, "reason": reason, "label": LATE_REASONS[reason]})
    return out


def graduation_cohort(*, graduation_year: int, unit_id: int | None = None) -> QuerySet[Cardholder]:
    """Undergraduate and junior-college holders graduating in `graduation_year` whose accounts
    are still open (R-CLOSE-2); accounts.selectors owns the read."""
    return accounts_selectors.holders_graduating(graduation_year=graduation_year, unit_id=unit_id)


def duplicates_to_refund(*, limit: int = 200) -> list:
    """Suspected duplicate charges (R-DUP-1) nobody has refunded or corrected yet, newest first."""
    rows = list(terminal_selectors.records_suspected_duplicate().select_related("merchant")[: limit * 2])
    done = refunded_record_ids(record_ids=[r.pk for r in rows])
    return [r for r in rows if r.pk not in done][:limit]


def duplicate_to_refund(*, record_id: int):
    """One suspected duplicate, posted and not yet refunded, or None."""
    record = terminal_selectors.records_suspected_duplicate().select_related("merchant").filter(pk=record_id).first()
    if record is None or refunded_record_ids(record_ids=[record.pk]):
        return None
    return record


def graduation_cohort_summary(*, graduation_year: int, unit_id: int | None = None) -> dict:
    """What closing the cohort would do, for the confirmation page: who, how much, who has no bank card."""
    cohort = list(graduation_cohort(graduation_year=graduation_year, unit_id=unit_id))
    no_card = [h for h in cohort if h.purse.account.balance and not h.bank_card_no]
    return {"holders": len(cohort), "total": sum(h.purse.account.balance for h in cohort),
            "to_pay": sum(1 for h in cohort if h.purse.account.balance and h.bank_card_no),
            "without_bank_card": no_card[:200], "without_bank_card_count": len(no_card), "sample": cohort[:20]}


def statements_payable(*, period_start: dt.date | None = None, period_end: dt.date | None = None) -> QuerySet[Statement]:
    """Approved or paid statements with money to pay: the payout list."""
    qs = Statement.objects.filter(Q(status=S.APPROVED) | Q(status=S.PAID)).filter(net__gt=0).select_related("merchant")
    if period_start:
        qs = qs.filter(period_start=period_start, period_end=period_end)
    return qs.order_by("period_start", "kind", "merchant__code")


# --- the merchant portal, the API and the finance desk ---------------------------------------

def statements_for_merchant(*, merchant) -> QuerySet[Statement]:
    """A merchant's own settlement statements, newest period first (R-MER-4: nothing of another)."""
    return (Statement.objects.filter(kind=Statement.Kind.MERCHANT, merchant_id=merchant.pk)
            .select_related("merchant").order_by("-period_start", "-period_end"))


def statement_of_merchant(*, merchant, pk: int) -> Statement | None:
    """One statement if it is the merchant's, else None (another merchant's id looks like a missing one)."""
    return statements_for_merchant(merchant=merchant).filter(pk=pk).first()


def corrections_for_merchant(*, merchant) -> QuerySet[Correction]:
    return Correction.objects.filter(merchant_id=merchant.pk).select_related("record").order_by("-id")


def refunded_record_ids(*, record_ids) -> set[int]:
    """Of these records, those already refunded (R-DUP-1) or corrected (U§9)."""
    ids = list(record_ids)
    refunded = set(Refund.objects.filter(record_id__in=ids).values_list("record_id", flat=True))
    corrected = Correction.objects.filter(record_id__in=ids, status=Correction.Status.DONE)
    return refunded | set(corrected.values_list("record_id", flat=True))


def graduation_closures(*, limit: int = 50) -> list[GraduationClosure]:
    return list(GraduationClosure.objects.select_related("actor").order_by("-id")[:limit])


def closure_unpaid_lines(*, closure: GraduationClosure) -> QuerySet[ClosureLine]:
    """Lines finance still has to handle: no bank card on file, or refused."""
    return (closure.lines.exclude(status__in=[ClosureLine.Status.PAID, ClosureLine.Status.CLOSED])
            .select_related("holder"))
