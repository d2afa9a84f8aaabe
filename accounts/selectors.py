"""Reads of cardholders, cards, purses, the ledger and the block list."""

from __future__ import annotations

import datetime as dt
import re

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

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

ID_TAIL = re.compile(r"^[0-9]{3,5}[0-9Xx]$")  # the last 4 to 6 characters of an ID number


def holder_search(*, q: str) -> QuerySet[Cardholder]:
    """By card number (typed, or typed by a USB card reader), staff/student number (whole or a
    part of at least three characters), name or part of it, or the last 4 to 6 characters of the
    ID number. Exact matches come first."""
    q = (q or "").strip()
    if not q or "\x00" in q or len(q) > 64:  # PostgreSQL refuses NUL in text; nobody's number holds one
        return Cardholder.objects.none()
    exact = Q(number__iexact=q)
    cond = exact | Q(name__icontains=q)
    if len(q) >= 3:
        cond |= Q(number__icontains=q)
    if (card_no := card_no_param(q)) is not None:
        exact |= Q(cards__card_no=card_no)
        cond |= Q(cards__card_no=card_no)
    if ID_TAIL.match(q):
        cond |= Q(id_number__iendswith=q)
    ids = Cardholder.objects.filter(cond).values("pk")
    return (Cardholder.objects.filter(pk__in=ids)
            .annotate(exact=Case(When(exact, then=Value(0)), default=Value(1), output_field=IntegerField()))
            .order_by("exact", "number").distinct())


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


def holder_cards(*, holder: Cardholder) -> list[Card]:
    """Every card the holder ever had, live ones first, newest first."""
    live = Case(When(status__in=("active", "lost", "frozen", "expired"), then=Value(0)), default=Value(1),
                output_field=IntegerField())
    return list(holder.cards.annotate(dead=live).order_by("dead", "-issued_on", "-id"))


# Journal source families that post terminal records (terminals/ingest/posting.py and intake.py); the same list as
# the daily close's (settlement.services.RECORD_POSTING_SOURCES).
RECORD_POSTING_FAMILIES = ("batch", "batches", "intake", "retry", "staff")


def purse_postings(*, account: LedgerAccount, limit: int = 20, host_only: bool = False) -> list[dict]:
    """The purse's latest ledger movements as the holder sees them: + money in, − money out.
    host_only: without the postings of terminal records (those are listed record by record)."""
    qs = Posting.objects.filter(account=account)
    if host_only:
        for family in RECORD_POSTING_FAMILIES:
            qs = qs.exclude(journal__source__startswith=f"{family}:")
    rows = qs.select_related("journal").order_by("-journal_id")[:limit]
    return [{"at": p.journal.created_at, "kind": p.journal.kind, "kind_label": p.journal.get_kind_display(),
             "amount": account.normal * p.amount, "reason": p.journal.reason, "journal_id": p.journal_id,
             "business_day": p.journal.business_day} for p in rows]


def audit_entry_get(*, pk: int) -> AuditLog | None:
    return AuditLog.objects.select_related("actor", "holder", "card", "journal").filter(pk=pk).first()


def audit_latest(*, actor, actions, holder=None, card=None) -> AuditLog | None:
    """The newest audit entry `actor` wrote for one of `actions` on the holder or card."""
    qs = AuditLog.objects.filter(actor=actor, action__in=list(actions))
    if card is not None:
        qs = qs.filter(card=card)
    if holder is not None:
        qs = qs.filter(holder=holder)
    return qs.order_by("-id").first()


def audit_between(*, actions, since: dt.datetime, until: dt.datetime) -> QuerySet[AuditLog]:
    """Audit entries of these actions in [since, until), newest first (the desk's drill-downs)."""
    return (AuditLog.objects.filter(action__in=list(actions), at__gte=since, at__lt=until)
            .select_related("actor", "holder", "card").order_by("-id"))


def audit_counts(*, actions, since: dt.datetime, until: dt.datetime) -> dict[str, int]:
    rows = (AuditLog.objects.filter(action__in=list(actions), at__gte=since, at__lt=until)
            .values("action").annotate(n=Count("id")))
    return {r["action"]: r["n"] for r in rows}


def cash_deposits_on(*, day: dt.date) -> dict:
    """Counter cash deposits (purse_deposit_cash) of a business day: how many and how much (fen)."""
    r = (Journal.objects.filter(business_day=day, kind=Journal.Kind.DEPOSIT, source__startswith="cash-deposit:")
         .aggregate(n=Count("id", distinct=True), amount=Coalesce(Sum("postings__amount",
                                                                      filter=Q(postings__amount__gt=0)), 0)))
    return {"count": r["n"], "amount": r["amount"]}


# --- the cash operator's own report ---------------------------------------------------------

def cash_journal_family(journal: Journal) -> str:
    """What a movement of a cash-on-hand account was, as the cash report groups it."""
    source = (journal.source or "").split(":", 1)[0]
    if journal.kind == Journal.Kind.DEPOSIT and source == "cash-deposit":
        return "counter_deposit"
    if source in RECORD_POSTING_FAMILIES:
        return "terminal_deposit"  # cash DEPOSIT records of the operator's top-up terminal
    return journal.kind  # card_fee, payout, adjustment, …


def cash_report(*, operator, since: dt.datetime, until: dt.datetime) -> dict:
    """The operator's cash on hand from `since` to `until` (a shift, or a business day): every
    journal that moved their cash account, the totals per kind, and the check against the ledger:
    the balance before `since` (from postings) plus the lines plus what moved after `until` must
    be the account's balance as the ledger keeps it."""
    account = LedgerAccount.objects.filter(kind=LedgerAccount.Kind.CASH, operator=operator).first()
    if account is None:
        return {"account": None, "lines": [], "groups": [], "opening": 0, "movement": 0, "closing": 0,
                "after": 0, "ledger_balance": 0, "balanced": True, "received": 0, "paid": 0}
    postings = Posting.objects.filter(account=account)
    window = postings.filter(journal__created_at__gte=since, journal__created_at__lt=until)
    lines, groups = [], {}
    for p in window.select_related("journal").order_by("journal__created_at", "journal_id"):
        amount = account.normal * p.amount
        family = cash_journal_family(p.journal)
        lines.append({"at": p.journal.created_at, "journal_id": p.journal_id, "family": family,
                      "amount": amount, "reason": p.journal.reason})
        g = groups.setdefault(family, {"family": family, "count": 0, "amount": 0})
        g["count"] += 1
        g["amount"] += amount
    before = postings.filter(journal__created_at__lt=since).aggregate(s=Coalesce(Sum("amount"), 0))["s"]
    after = postings.filter(journal__created_at__gte=until).aggregate(s=Coalesce(Sum("amount"), 0))["s"]
    opening, movement, after = account.normal * before, sum(x["amount"] for x in lines), account.normal * after
    account.refresh_from_db(fields=["balance"])
    return {
        "account": account, "lines": lines, "groups": sorted(groups.values(), key=lambda g: g["family"]),
        "opening": opening, "movement": movement, "closing": opening + movement, "after": after,
        "ledger_balance": account.balance, "balanced": opening + movement + after == account.balance,
        "received": sum(x["amount"] for x in lines if x["amount"] > 0),
        "paid": -sum(x["amount"] for x in lines if x["amount"] < 0),
    }
