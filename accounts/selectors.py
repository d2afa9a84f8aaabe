"""Reads of cardholders, cards, purses, the ledger and the block list."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import (
    AdjustmentRequest,
    AuditLog,
    BlockListEntry,
    Card,
    Cardholder,
    Journal,
    LedgerAccount,
    Posting,
)
from .parsing import card_no_param


def holder_search(*, q: str) -> QuerySet[Cardholder]:
    """By staff/student number, name or the number of any of the holder's cards."""
    q = (q or "").strip()
    if not q or "\x00" in q:  # PostgreSQL refuses NUL in text; nobody's number or name holds one
        return Cardholder.objects.none()
    cond = Q(number__iexact=q) | Q(name__icontains=q)
    if (card_no := card_no_param(q)) is not None:
        cond |= Q(cards__card_no=card_no)
    return Cardholder.objects.filter(cond).distinct()


def holder_get_by_number(*, number: str) -> Cardholder | None:
    """The holder with exactly this staff/student number (one index lookup), or None."""
    if not number or "\x00" in number or len(number) > Cardholder._meta.get_field("number").max_length:
        return None  # PostgreSQL refuses NUL in text; no number is that long
    return Cardholder.objects.filter(number=number).first()


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


def card_types_by_number(*, card_nos) -> dict[int, int]:
    """card_no -> card_type for the cards that exist (intake checks a whole batch at once)."""
    return dict(Card.objects.filter(card_no__in=list(card_nos)).values_list("card_no", "card_type"))


def cards_for_posting(*, card_nos) -> dict[int, dict]:
    """card_no -> {card_id, purse_id, account_id, status} for the posting hot path."""
    rows = Card.objects.filter(card_no__in=list(card_nos)).values_list(
        "card_no", "id", "purse_id", "purse__account_id", "status", "card_type"
    )
    return {
        n: {"card_id": cid, "purse_id": pid, "account_id": aid, "status": st, "card_type": ct}
        for n, cid, pid, aid, st, ct in rows
    }


def block_history(*, card_nos) -> dict[int, list[tuple]]:
    """card_no -> [(at, op)] in version order, to tell whether a card was blocked at a time."""
    out: dict[int, list[tuple]] = {}
    for n, at, op in BlockListEntry.objects.filter(card_no__in=list(card_nos)).order_by("version").values_list(
        "card_no", "at", "op"
    ):
        out.setdefault(n, []).append((at, op))
    return out


def cash_accounts_by_operator(*, operator_nos) -> dict[int, int]:
    """operator_no (the cashier's user id) -> their cash-on-hand ledger account id."""
    return dict(
        LedgerAccount.objects.filter(kind=LedgerAccount.Kind.CASH, operator_id__in=list(operator_nos)).values_list(
            "operator_id", "id"
        )
    )


def cards_purse_state(*, card_nos=None, active_only: bool = False, limit: int | None = None) -> list[dict]:
    """Cards with their purse's host state (库: account balance; 卡: last counter and balance seen;
    pending credit), for the terminal simulator and its verification. With active_only, one card
    per purse (a purse shared by two live cards cannot be modelled as one card), richest first."""
    qs = Card.objects.all()
    if card_nos is not None:
        qs = qs.filter(card_no__in=list(card_nos))
    if active_only:
        qs = qs.filter(status="active").order_by("purse_id", "card_no").distinct("purse_id")
    rows = [
        {"card_no": n, "card_type": t, "status": s, "purse_id": p, "card_counter": c, "card_balance": b,
         "pending": pend, "balance": bal}
        for n, t, s, p, c, b, pend, bal in qs.values_list(
            "card_no", "card_type", "status", "purse_id", "purse__card_counter", "purse__card_balance",
            "purse__pending", "purse__account__balance")
    ]
    if active_only:
        rows.sort(key=lambda r: (-r["card_balance"], r["card_no"]))
    return rows[:limit] if limit is not None else rows


def blocklist_version_before(*, at) -> int:
    """The newest block-list version made strictly before `at` (0 when none): what every terminal
    should hold by now when `at` is now less the grace (R-TERM-3)."""
    last = BlockListEntry.objects.filter(at__lt=at).order_by("-version").values_list("version", flat=True).first()
    return last or 0


def cards_frozen_count(*, since, until) -> int:
    """Cards frozen in [since, until) and still frozen (R-FREEZE-1), for the staff dashboard."""
    return Card.objects.filter(status="frozen", status_changed_at__gte=since, status_changed_at__lt=until).count()


def holders_graduating(*, graduation_year: int, unit_id: int | None = None) -> QuerySet[Cardholder]:
    """Undergraduate and junior-college holders whose study ends in `graduation_year` and whose
    accounts are still open (R-CLOSE-2), with their purses, by number."""
    from .models import Category

    qs = Cardholder.objects.filter(
        status=Cardholder.Status.ACTIVE, category__in=[Category.UNDERGRADUATE, Category.JUNIOR_COLLEGE],
        end_date__year=graduation_year,
    )
    if unit_id is not None:
        qs = qs.filter(unit_id=unit_id)
    return qs.select_related("purse__account").order_by("number")


def card_get_for_update(*, card_no: int) -> Card | None:
    """The card, row-locked until the transaction ends: read-modify-write of its functions by a
    subsystem must not lose another subsystem's change made at the same moment (R-SUB-1)."""
    return Card.objects.select_for_update(of=("self",)).filter(card_no=card_no).first()


def adjustments_pending() -> QuerySet[AdjustmentRequest]:
    """Adjustments waiting for a second person (R-ADJ-1), oldest first."""
    return (AdjustmentRequest.objects.filter(status=AdjustmentRequest.Status.PENDING)
            .select_related("holder", "requested_by").order_by("requested_at", "id"))


def adjustments_decided(*, limit: int = 50) -> list[AdjustmentRequest]:
    return list(AdjustmentRequest.objects.exclude(status=AdjustmentRequest.Status.PENDING)
                .select_related("holder", "requested_by", "decided_by").order_by("-decided_at", "-id")[:limit])
