"""Reads of cardholders, cards, purses, the ledger and the block list."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import AuditLog, BlockListEntry, Card, Cardholder, Journal, LedgerAccount, Posting


def holder_search(*, q: str) -> QuerySet[Cardholder]:
    """By staff/student number, name or the number of any of the holder's cards."""
    q = (q or "").strip()
    if not q:
        return Cardholder.objects.none()
    cond = Q(number__iexact=q) | Q(name__icontains=q)
    if q.isdigit():
        cond |= Q(cards__card_no=int(q))
    return Cardholder.objects.filter(cond).distinct()


def holder_history(*, holder: Cardholder) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(Q(holder=holder) | Q(card__holder=holder)).select_related("actor", "card").distinct()


def card_history(*, card: Card) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(card=card).select_related("actor")


def card_get(*, card_no: int) -> Card | None:
    return Card.objects.select_related("holder", "purse__account").filter(card_no=card_no).first()


def account_postings(*, account: LedgerAccount) -> QuerySet[Posting]:
    return Posting.objects.filter(account=account).select_related("journal").order_by("-journal_id")


def journals_for_holder(*, holder: Cardholder) -> QuerySet[Journal]:
    return Journal.objects.filter(postings__account__purse__holder=holder).distinct()


def blocklist_since(*, version: int, limit: int) -> list[BlockListEntry]:
    return list(BlockListEntry.objects.filter(version__gt=version).order_by("version")[:limit])


def blocklist_version() -> int:
    last = BlockListEntry.objects.order_by("-version").values_list("version", flat=True).first()
    return last or 0


def blocked_card_numbers() -> QuerySet:
    """Every card that must be refused now: whatever is not active (R-CARD-9, R-TERM-3)."""
    return Card.objects.exclude(status="active").values_list("card_no", flat=True)
