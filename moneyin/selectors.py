"""Reads of money-in for the apps above (settlement's daily close, the staff dashboard)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, Sum

from accounts.models import AdjustmentRequest

from .models import BankTransfer, StatementDifference


def bank_day_figures(*, day: dt.date) -> dict:
    """The day's bank transfers credited (by the business day of their journals) and those still
    reversing: what the bank clearing account's bank_in movement must equal."""
    approved = BankTransfer.objects.filter(status=BankTransfer.Status.APPROVED, journal__business_day=day).aggregate(
        n=Count("id"), amount=Sum("amount"))
    return {"transfers": approved["n"] or 0, "transfer_amount": approved["amount"] or 0,
            "reversing": BankTransfer.objects.filter(status=BankTransfer.Status.REVERSING).count()}


def differences_open() -> list[dict]:
    """Statement differences not yet cleared by an approved adjustment (R-ADJ-1), any day."""
    qs = StatementDifference.objects.select_related("statement", "holder").exclude(
        Q(request__status=AdjustmentRequest.Status.APPROVED))
    return [{"id": d.pk, "day": d.statement.day, "source": d.statement.source, "rrn": d.rrn, "kind": d.kind,
             "difference": d.difference,
             "holder": str(d.holder) if d.holder else ""} for d in qs.order_by("pk")]


def transfers_recent(*, limit: int = 50):
    return BankTransfer.objects.select_related("holder").order_by("-id")[:limit]
