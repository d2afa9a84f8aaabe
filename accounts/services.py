"""Writes for cardholders, cards and purses. Each service validates first, then changes rows,
the ledger, the block list and the audit log in one transaction.

Channels: "staff" actions need an actor with the matching permission; "kiosk" is the
cardholder at the self-service machine; "system" is a scheduled task.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from . import validity
from .errors import BusinessError, NotAllowed
from .ledger import journal_post
from .models import (
    FORMAL_CATEGORIES,
    LIVE_STATUSES,
    AuditLog,
    BlockListEntry,
    Card,
    Cardholder,
    CardStatus,
    CardType,
    Category,
    FeeSchedule,
    IssueBatch,
    Journal,
    LedgerAccount,
    Purse,
    Unit,
)
from .timeutil import business_day

S = CardStatus
# The allowed status changes, in one place. closed and replaced are final.
TRANSITIONS: dict[str, set[str]] = {
    S.ACTIVE: {S.LOST, S.FROZEN, S.EXPIRED, S.CLOSED, S.REPLACED},
    S.LOST: {S.ACTIVE, S.REPLACED, S.CLOSED, S.EXPIRED},
    S.FROZEN: {S.ACTIVE, S.EXPIRED, S.CLOSED},
    S.EXPIRED: {S.ACTIVE, S.LOST, S.CLOSED, S.REPLACED},
    S.CLOSED: set(),
    S.REPLACED: set(),
}
FEE_PAYMENTS = ("cash", "purse", "bank")
BLOCKLIST_LOCK = 0x43430001  # advisory lock id: block-list versions commit in order


# --- helpers ------------------------------------------------------------------------

def _require(actor, perm: str) -> None:
    if actor is None or not actor.is_active or not actor.has_perm(perm):
        raise NotAllowed(f"You are not allowed to do this ({perm}).")


def _audit(*, action: str, actor=None, channel: str = "staff", holder=None, card=None, journal=None,
           reason: str = "", **data) -> AuditLog:
    if card is not None and holder is None:
        holder = card.holder
    return AuditLog.objects.create(
        action=action, actor=actor, channel=channel, holder=holder, card=card, journal=journal,
        reason=reason[:200], data=data,
    )


def _reason_required(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise BusinessError("A reason is required.")
    return reason


def _positive_amount(amount) -> int:
    # Whole fen only: int() alone would truncate 12.7 to 12 and take True for 1.
    try:
        if isinstance(amount, bool):
            raise TypeError
        value = int(amount)  # "12" parses, "1.5" does not
        if not isinstance(amount, str) and value != amount:
            raise ValueError  # 12.7, Decimal("2.5")
    except (TypeError, ValueError, OverflowError):
        raise BusinessError("The amount must be a whole number of fen.") from None
    if value <= 0:
        raise BusinessError("The amount must be greater than zero.")
    return value


def blocklist_append(*, card_no: int, op: int, reason: str) -> BlockListEntry:
    """Append a block-list change. The advisory lock makes versions commit in the order they
    were allocated, so a terminal that has seen version v can never miss a v' < v later."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [BLOCKLIST_LOCK])
    entry = BlockListEntry.objects.create(card_no=card_no, op=op, reason=reason)
    with connection.cursor() as cur:  # delivered by PostgreSQL at commit, never before
        cur.execute("SELECT pg_notify('blocklist', %s)", [str(entry.version)])
    return entry


def _set_status(card: Card, new: str, *, action: str, actor, channel: str, reason: str, **data) -> Card:
    old = card.status
    if new not in TRANSITIONS[old]:
        raise BusinessError(
            f"Card {card.card_no} is {card.get_status_display()}; it cannot become {S(new).label}."
        )
    card.status = new
    card.status_changed_at = timezone.now()
    card.save(update_fields=["status", "status_changed_at"])
    # Every change of usability reaches the terminals (R-TERM-3): only active cards pay.
    blocklist_append(card_no=card.card_no, op=0 if new == S.ACTIVE else 1, reason=new)
    _audit(action=action, actor=actor, channel=channel, card=card, reason=reason, old=old, new=new)
    return card


def _locked_card(card: Card | int) -> Card:
    pk = card.pk if isinstance(card, Card) else card
    return Card.objects.select_for_update(of=("self",)).select_related("holder", "purse__account").get(pk=pk)


def system_account(kind: str) -> LedgerAccount:
    return LedgerAccount.objects.get(kind=kind)


def cash_account_for(user) -> LedgerAccount:
    """The cash-on-hand account of a staff member who takes cash (created on first use)."""
    account, _ = LedgerAccount.objects.get_or_create(
        operator=user,
        defaults={"kind": LedgerAccount.Kind.CASH, "code": f"CASH-{user.pk}", "name": f"Cash on hand: {user}",
                  "normal": LedgerAccount.NORMAL[LedgerAccount.Kind.CASH]},
    )
    return account


def fee_amount(kind: str, on: dt.date | None = None) -> int:
    on = on or business_day()
    fee = FeeSchedule.objects.filter(kind=kind, effective_from__lte=on).order_by("-effective_from").first()
    if fee is None:
        raise BusinessError(f"No {kind} fee is in force on {on}.")
    return fee.amount


def _next_card_no() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT nextval('accounts_card_no_seq')")
        return cur.fetchone()[0]


def ledger_account_create(*, kind: str, code: str, name: str) -> LedgerAccount:
    """A new ledger account (merchant payables, cash on hand); system accounts come from setup."""
    return LedgerAccount.objects.create(kind=kind, code=code, name=name, normal=LedgerAccount.NORMAL[kind])


def purse_create(*, holder: Cardholder | None, label: str) -> Purse:
    n = holder.number if holder else label
    account = LedgerAccount.objects.create(
        kind=LedgerAccount.Kind.PURSE, code=f"PURSE-{n}", name=f"Purse {n}",
        normal=LedgerAccount.NORMAL[LedgerAccount.Kind.PURSE],
    )
    return Purse.objects.create(account=account, holder=holder)


def _charge_fee(*, purse: Purse, amount: int, payment: str, actor, reason: str, source: str | None = None):
    """Post a card fee to the card-fee special account (R-FEE-4)."""
    if amount == 0:
        return None
    if payment not in FEE_PAYMENTS:
        raise BusinessError(f"Unknown fee payment {payment!r}.")
    debit = {
        "cash": lambda: cash_account_for(actor),
        "purse": lambda: purse.account,
        "bank": lambda: system_account(LedgerAccount.Kind.BANK),
    }[payment]()
    return journal_post(
        kind=Journal.Kind.CARD_FEE, actor=actor, reason=reason, source=source,
        lines=[(debit, amount), (system_account(LedgerAccount.Kind.CARD_FEE), -amount)],
    )


# --- cardholders --------------------------------------------------------------------

HOLDER_FIELDS = ("name", "id_number", "category", "entry", "unit", "start_date", "end_date", "bank_card_no")


@transaction.atomic
def holder_create(*, actor, number: str, name: str, category: str, **fields) -> Cardholder:
    _require(actor, "accounts.add_cardholder")
    unknown = set(fields) - set(HOLDER_FIELDS)
    if unknown:
        raise BusinessError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    number, name = (number or "").strip(), (name or "").strip()
    if not number or not name:
        raise BusinessError("A cardholder needs a number and a name.")
    if category not in Category.values:
        raise BusinessError(f"Unknown category {category!r}.")
    if Cardholder.objects.filter(number=number).exists():
        raise BusinessError(f"Cardholder {number} already exists.")
    holder = Cardholder(number=number, name=name, category=category, **fields)
    holder.full_clean()
    holder.save()
    purse_create(holder=holder, label=number)
    _audit(action="holder_create", actor=actor, holder=holder, category=category)
    return holder


@transaction.atomic
def holder_update(*, actor, holder: Cardholder, reason: str = "", **fields) -> Cardholder:
    _require(actor, "accounts.change_cardholder")
    unknown = set(fields) - set(HOLDER_FIELDS)
    if unknown:
        raise BusinessError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
    changed = {k: str(v) for k, v in fields.items() if getattr(holder, k) != v}
    for k, v in fields.items():
        setattr(holder, k, v)
    holder.full_clean()
    holder.save()
    changed.pop("id_number", None) and changed.update(id_number="(changed)")
    _audit(action="holder_update", actor=actor, holder=holder, reason=reason, changed=changed)
    return holder


@transaction.atomic
def holder_set_kiosk_password(*, actor, holder: Cardholder, raw_password: str) -> None:
    _require(actor, "accounts.change_cardholder")
    if not raw_password or not raw_password.isdigit() or not 6 <= len(raw_password) <= 12:
        raise BusinessError("The kiosk password must be 6 to 12 digits.")
    Cardholder.objects.filter(pk=holder.pk).update(
        kiosk_password=make_password(raw_password), kiosk_failures=0, kiosk_locked_until=None
    )
    _audit(action="holder_kiosk_password", actor=actor, holder=holder)


def holder_eligible(holder: Cardholder, card_type: int) -> str | None:
    """Why `holder` may not hold a card of `card_type`, or None (R-CARD-2, R-CARD-3, R-CARD-4)."""
    if holder.status != Cardholder.Status.ACTIVE:
        return f"{holder} has a closed account; they must apply again as a new applicant (R-CLOSE-4)."
    if card_type == CardType.FORMAL and holder.category not in FORMAL_CATEGORIES:
        return f"{holder} ({holder.get_category_display()}) is not eligible for a formal card (R-CARD-2)."
    if card_type == CardType.ORDINARY:
        if holder.category in FORMAL_CATEGORIES:
            return f"{holder} is eligible for a formal card, not an ordinary one (R-CARD-3)."
        if holder.category == Category.SHORT_TERM:
            return f"{holder} is a short-term visitor: consumption cards only (R-CARD-4)."
    if card_type in (CardType.FORMAL, CardType.ORDINARY) and holder.cards.filter(
        card_type=card_type, status__in=LIVE_STATUSES
    ).exists():
        return f"{holder} already has a live {CardType(card_type).label} (R-CARD-2, R-CARD-3)."
    return None


@transaction.atomic
def holder_reopen(*, actor, holder: Cardholder, reason: str) -> Cardholder:
    """A closed holder applies again as a new applicant (R-CLOSE-4)."""
    _require(actor, "accounts.issue_card")
    reason = _reason_required(reason)
    holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
    if holder.status != Cardholder.Status.CLOSED:
        raise BusinessError(f"{holder} is not closed.")
    holder.status, holder.closed_at = Cardholder.Status.ACTIVE, None
    holder.save(update_fields=["status", "closed_at"])
    _audit(action="holder_reopen", actor=actor, holder=holder, reason=reason)
    return holder


# --- issue --------------------------------------------------------------------------

def _new_card(*, card_type: int, holder, purse: Purse, issued_on: dt.date, unit=None, batch=None,
              replaces=None, label: str = "", valid_until: dt.date | None = None) -> Card:
    valid_until = valid_until or validity.initial_validity(card_type, holder, issued_on)
    if valid_until < issued_on:  # R-CARD-9: it would only pay until tonight's expiry run
        raise BusinessError(f"{holder}: the card would be valid only until {valid_until}, which has passed.")
    card = Card(
        card_no=_next_card_no(), card_type=card_type, holder=holder, purse=purse, issued_on=issued_on,
        valid_until=valid_until, unit=unit, batch=batch, replaces=replaces, label=label,
    )
    try:
        with transaction.atomic():
            card.save()
    except IntegrityError as exc:
        raise BusinessError(f"{holder} already has a live {CardType(card_type).label}.") from exc
    # A new card starts from the account: it carries the balance, its counter starts at 0.
    Purse.objects.filter(pk=purse.pk).update(
        card_counter=0, card_balance=purse.account.balance, pending=0, card_seen_at=None
    )
    return card


@transaction.atomic
def card_issue_formal(*, actor, holder: Cardholder, fee_payment: str = "cash") -> Card:
    """Issue a formal card to the applicant in person (R-ISSUE-1). The first is free (R-FEE-1);
    a holder who had one before, and closed, pays as a new applicant (R-CLOSE-4)."""
    _require(actor, "accounts.issue_card")
    holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
    why_not = holder_eligible(holder, CardType.FORMAL)
    if why_not:
        raise BusinessError(why_not)
    first = not holder.cards.filter(card_type=CardType.FORMAL).exists()
    today = business_day()
    purse = Purse.objects.select_related("account").get(holder=holder)
    fee = 0 if first else fee_amount(FeeSchedule.Kind.NEW_CARD, today)
    # The fee first: a new card carries the purse balance as it is after the fee.
    journal = _charge_fee(purse=purse, amount=fee, payment=fee_payment, actor=actor,
                          reason=f"formal card for {holder.number}")
    purse.account.refresh_from_db(fields=["balance"])
    card = _new_card(card_type=CardType.FORMAL, holder=holder, purse=purse, issued_on=today, unit=holder.unit)
    _audit(action="card_issue", actor=actor, card=card, journal=journal, fee=fee, first=first)
    return card


@transaction.atomic
def card_batch_issue(*, actor, unit: Unit, card_type: int, rows: list[dict] | None = None,
                     quantity: int = 0, filename: str = "", fee_payment: str = "bank") -> IssueBatch:
    """Issue a unit's batch of ordinary or consumption cards (R-ISSUE-2), each with its fee
    (R-FEE-2). Every row is validated first; one bad row and nothing is applied."""
    _require(actor, "accounts.import_batch")
    from .imports import BatchRejected, batch_rows_validate

    if fee_payment not in ("bank", "cash"):
        raise BusinessError("Batch fees are paid by the unit (bank or cash), not from purses.")
    if card_type not in (CardType.ORDINARY, CardType.CONSUMPTION):
        raise BusinessError("Only ordinary and consumption cards are issued in batches (R-ISSUE-2).")
    if card_type == CardType.CONSUMPTION and not rows:
        if not 1 <= int(quantity or 0) <= 5000:
            raise BusinessError("A consumption batch needs a quantity between 1 and 5000.")
        rows = [{"label": ""} for _ in range(int(quantity))]
    if not rows:
        raise BusinessError("The batch has no rows.")
    cleaned, errors = batch_rows_validate(card_type=card_type, rows=rows, unit=unit)
    if errors:
        raise BatchRejected(errors)
    today = business_day()
    fee_each = fee_amount(FeeSchedule.Kind.NEW_CARD, today)
    batch = IssueBatch.objects.create(
        unit=unit, card_type=card_type, filename=filename[:200], rows=len(cleaned),
        fee_total=fee_each * len(cleaned), actor=actor,
    )
    for i, row in enumerate(cleaned, start=1):
        if card_type == CardType.CONSUMPTION:
            purse = purse_create(holder=None, label=f"B{batch.pk}-{i}")
            holder = None
        else:
            holder = row["holder"]
            if holder is None:
                holder = Cardholder.objects.create(unit=unit, **row["fields"])
                purse_create(holder=holder, label=holder.number)
                _audit(action="holder_create", actor=actor, holder=holder, batch=batch.pk)
            purse = Purse.objects.select_related("account").get(holder=holder)
        card = _new_card(card_type=card_type, holder=holder, purse=purse, issued_on=today, unit=unit,
                         batch=batch, label=row.get("label", ""))
        _audit(action="card_issue", actor=actor, card=card, batch=batch.pk, fee=fee_each)
    if batch.fee_total:
        # One journal per batch: the unit pays the batch's fees together (R-FEE-2, R-FEE-4).
        journal = _charge_fee(purse=None, amount=batch.fee_total, payment=fee_payment, actor=actor,
                              reason=f"batch {batch.pk}: {batch.rows} cards", source=f"batch-fee:{batch.pk}")
        _audit(action="batch_fee", actor=actor, journal=journal, batch=batch.pk, amount=batch.fee_total)
    return batch


# --- loss, freeze -------------------------------------------------------------------

def _staff_or_kiosk(actor, channel: str, perm: str) -> None:
    if channel == "staff":
        _require(actor, perm)
    elif channel not in ("kiosk", "system"):
        raise BusinessError(f"Unknown channel {channel!r}.")


@transaction.atomic
def card_report_loss(*, card: Card, actor=None, channel: str = "staff", reason: str = "") -> Card:
    """Report a card lost (R-LOSS-1): from now on every terminal refuses it."""
    _staff_or_kiosk(actor, channel, "accounts.report_loss")
    card = _locked_card(card)
    if card.card_type == CardType.CONSUMPTION:
        raise BusinessError("A consumption card is anonymous and cannot be reported lost (R-LOSS-1).")
    if card.status == S.LOST:
        raise BusinessError(f"Card {card.card_no} is already reported lost.")
    return _set_status(card, S.LOST, action="card_report_loss", actor=actor, channel=channel,
                       reason=reason or "reported lost")


@transaction.atomic
def card_reverse_loss(*, card: Card, actor, reason: str) -> Card:
    """Reverse a loss report in person with ID (R-LOSS-2)."""
    _require(actor, "accounts.report_loss")
    reason = _reason_required(reason)
    card = _locked_card(card)
    if card.status != S.LOST:
        raise BusinessError(f"Card {card.card_no} is not reported lost.")
    target = S.EXPIRED if card.valid_until < business_day() else S.ACTIVE
    return _set_status(card, target, action="card_reverse_loss", actor=actor, channel="staff", reason=reason)


@transaction.atomic
def card_freeze(*, card: Card, actor=None, channel: str = "staff", reason: str) -> Card:
    """Freeze a card whose on-card state and account disagree (R-FREEZE-1)."""
    if channel == "kiosk":  # the kiosk reports loss and queries balance, nothing else
        raise NotAllowed("A card is frozen by the centre or the system, not at the kiosk.")
    _staff_or_kiosk(actor, channel, "accounts.freeze_card")
    reason = _reason_required(reason)
    card = _locked_card(card)
    return _set_status(card, S.FROZEN, action="card_freeze", actor=actor, channel=channel, reason=reason)


@transaction.atomic
def card_unfreeze(*, card: Card, actor, reason: str) -> Card:
    """Unfreeze in person with ID once the difference is resolved (R-FREEZE-1)."""
    _require(actor, "accounts.freeze_card")
    reason = _reason_required(reason)
    card = _locked_card(card)
    if card.status != S.FROZEN:
        raise BusinessError(f"Card {card.card_no} is not frozen.")
    target = S.EXPIRED if card.valid_until < business_day() else S.ACTIVE
    return _set_status(card, target, action="card_unfreeze", actor=actor, channel="staff", reason=reason)


# --- replacement, validity ----------------------------------------------------------

@transaction.atomic
def card_replace(*, card: Card, actor, reason: str, fee_payment: str = "cash") -> Card:
    """Replace a lost or damaged formal/ordinary card (R-REPLACE-1) for a fee (R-FEE-3).
    The old card is dead for good; the new one, same type and a new number, keeps the purse."""
    _require(actor, "accounts.replace_card")
    reason = _reason_required(reason)
    card = _locked_card(card)
    if card.card_type == CardType.CONSUMPTION:
        raise BusinessError("A consumption card is never replaced; the holder buys a new one (R-REPLACE-2).")
    if card.holder.status != Cardholder.Status.ACTIVE:
        raise BusinessError(f"{card.holder} has a closed account.")
    today = business_day()
    fee = fee_amount(FeeSchedule.Kind.REPLACEMENT, today)
    _set_status(card, S.REPLACED, action="card_replaced", actor=actor, channel="staff", reason=reason)
    purse = Purse.objects.select_related("account").select_for_update().get(pk=card.purse_id)
    journal = _charge_fee(purse=purse, amount=fee, payment=fee_payment, actor=actor,
                          reason=f"replacement of {card.card_no}")
    purse.account.refresh_from_db(fields=["balance"])
    new = _new_card(card_type=card.card_type, holder=card.holder, purse=purse, issued_on=today,
                    unit=card.unit, replaces=card, valid_until=max(card.valid_until, today),
                    label=card.label)
    new.functions = card.functions
    new.save(update_fields=["functions"])
    _audit(action="card_replace", actor=actor, card=new, journal=journal, reason=reason,
           old_card=card.card_no, fee=fee)
    return new


@transaction.atomic
def card_extend(*, card: Card, actor, until: dt.date | None = None, reason: str,
                proof_end_date: dt.date | None = None) -> Card:
    """Extend a card's validity within R-CARD-6/7/8's limits; an expired card works again."""
    _require(actor, "accounts.extend_card")
    reason = _reason_required(reason)
    card = _locked_card(card)
    if not card.is_live:
        raise BusinessError(f"Card {card.card_no} is {card.get_status_display()}.")
    today = business_day()
    limit = validity.extension_limit(card, today, proof_end_date)
    until = until or limit
    if until > limit:
        raise BusinessError(f"Card {card.card_no} can be extended to {limit} at most.")
    if until <= max(card.valid_until, today):
        raise BusinessError(f"The new date must be after {max(card.valid_until, today)}.")
    old = card.valid_until
    card.valid_until = until
    card.save(update_fields=["valid_until"])
    if proof_end_date and card.holder and card.card_type != CardType.CONSUMPTION:
        Cardholder.objects.filter(pk=card.holder_id).update(end_date=proof_end_date)
    _audit(action="card_extend", actor=actor, card=card, reason=reason, old=str(old), new=str(until))
    if card.status == S.EXPIRED:
        _set_status(card, S.ACTIVE, action="card_unexpire", actor=actor, channel="staff", reason=reason)
    return card


@transaction.atomic
def card_functions_set(*, card: Card, actor, functions: Iterable[str], reason: str = "") -> Card:
    """A connected subsystem switches functions on or off for a card (R-CARD-5, R-SUB-1)."""
    _require(actor, "accounts.change_card")
    card = _locked_card(card)
    functions = sorted({f.strip() for f in functions if f.strip()})
    if functions and card.card_type == CardType.CONSUMPTION:
        raise BusinessError("A consumption card only pays at merchants (R-CARD-5).")
    old = card.functions
    card.functions = functions
    card.save(update_fields=["functions"])
    _audit(action="card_functions", actor=actor, card=card, reason=reason, old=old, new=functions)
    return card


def cards_expire(*, today: dt.date | None = None) -> int:
    """Expire active cards past their validity (R-CARD-9). Run daily; idempotent."""
    today = today or business_day()
    count = 0
    for pk in Card.objects.filter(status=S.ACTIVE, valid_until__lt=today).values_list("pk", flat=True):
        with transaction.atomic():
            card = _locked_card(pk)
            if card.status == S.ACTIVE and card.valid_until < today:
                _set_status(card, S.EXPIRED, action="card_expire", actor=None, channel="system",
                            reason=f"valid until {card.valid_until}")
                count += 1
    return count


# --- closure, adjustments -----------------------------------------------------------

PAYOUT_METHODS = ("bank", "cash")


def _payout(*, purse: Purse, method: str, actor, reason: str, source: str):
    amount = purse.account.balance
    if amount == 0:
        return None
    credit = system_account(LedgerAccount.Kind.BANK) if method == "bank" else cash_account_for(actor)
    return journal_post(kind=Journal.Kind.PAYOUT, actor=actor, reason=reason, source=source,
                        lines=[(purse.account, amount), (credit, -amount)])


@transaction.atomic
def account_close(*, actor, holder: Cardholder | None = None, card: Card | None = None,
                  payout: str = "bank", reason: str) -> Journal | None:
    """Close a holder's account (R-CLOSE-1, R-CLOSE-3) or a consumption card (R-CLOSE-3): every
    live card is closed, the balance paid out (to the bank card, or in cash), the account closed."""
    _require(actor, "accounts.close_account")
    reason = _reason_required(reason)
    if payout not in PAYOUT_METHODS:
        raise BusinessError(f"Unknown payout method {payout!r}.")
    if (holder is None) == (card is None):
        raise BusinessError("Close either a cardholder's account or one consumption card.")
    if card is not None:
        card = _locked_card(card)
        if card.card_type != CardType.CONSUMPTION:
            raise BusinessError("A real-name card is closed with its holder's account.")
        if payout == "bank" and card.purse.account.balance:
            raise BusinessError("An anonymous consumption card has no bank card: pay its balance out in cash.")
        cards, purse, source = [card], card.purse, f"close-card:{card.pk}"
    else:
        holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
        if holder.status == Cardholder.Status.CLOSED:
            raise BusinessError(f"{holder} is already closed.")
        cards = [_locked_card(c) for c in holder.cards.filter(status__in=LIVE_STATUSES).order_by("pk")]
        purse = holder.purse
        source = f"close-holder:{holder.pk}:{holder.audit.count()}"
        if payout == "bank" and purse.account.balance and not holder.bank_card_no:
            raise BusinessError(f"{holder} has no bank card on file for the payout.")
    for c in cards:
        if c.functions:
            raise BusinessError(
                f"Card {c.card_no} still has {', '.join(c.functions)} switched on; "
                "the subsystem must close them first (R-CLOSE-1)."
            )
    if card is not None and not card.is_live:
        raise BusinessError(f"Card {card.card_no} is already {card.get_status_display()}.")
    purse = Purse.objects.select_for_update(of=("self",)).select_related("account").get(pk=purse.pk)
    journal = _payout(purse=purse, method=payout, actor=actor, reason=reason, source=source)
    for c in cards:
        _set_status(c, S.CLOSED, action="card_close", actor=actor, channel="staff", reason=reason)
    Purse.objects.filter(pk=purse.pk).update(pending=0)
    if holder is not None:
        holder.status, holder.closed_at = Cardholder.Status.CLOSED, timezone.now()
        holder.save(update_fields=["status", "closed_at"])
    _audit(action="account_close", actor=actor, holder=holder, card=card, journal=journal, reason=reason,
           payout=payout, amount=journal.postings.get(account=purse.account).amount if journal else 0)
    return journal


class Adjustment:
    """The four adjustments of R-ADJ-1 when the bank's records and the card system's disagree.
    The difference waits in the suspense account; each adjustment clears it one way."""

    DEBIT_BANK_CARD = "debit_bank_card"      # 从银行卡扣款: the bank collects from the holder's bank card
    DEBIT_CAMPUS_CARD = "debit_campus_card"  # 从校园卡扣款: taken from the holder's purse
    HOLDER_PAYS_IN = "holder_pays_in"        # 持卡补缴款: the holder pays in cash
    REFUND_HOLDER = "refund_holder"          # 向持卡人补款: credited to the purse, pending to the card
    CHOICES = [
        (DEBIT_BANK_CARD, "Debit the bank card"),
        (DEBIT_CAMPUS_CARD, "Debit the campus card"),
        (HOLDER_PAYS_IN, "Holder pays in"),
        (REFUND_HOLDER, "Refund the holder"),
    ]


@transaction.atomic
def account_adjust(*, actor, holder: Cardholder, kind: str, amount, reason: str) -> Journal:
    """Adjust a holder's account by one of the four ways of R-ADJ-1."""
    _require(actor, "accounts.adjust_account")
    reason = _reason_required(reason)
    amount = _positive_amount(amount)
    holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
    if holder.status != Cardholder.Status.ACTIVE:
        raise BusinessError(f"{holder} has a closed account.")
    purse = Purse.objects.select_for_update(of=("self",)).select_related("account").get(holder=holder)
    suspense = system_account(LedgerAccount.Kind.SUSPENSE)
    lines = {
        Adjustment.DEBIT_BANK_CARD: lambda: [(system_account(LedgerAccount.Kind.BANK), amount), (suspense, -amount)],
        Adjustment.HOLDER_PAYS_IN: lambda: [(cash_account_for(actor), amount), (suspense, -amount)],
        Adjustment.DEBIT_CAMPUS_CARD: lambda: [(purse.account, amount), (suspense, -amount)],
        Adjustment.REFUND_HOLDER: lambda: [(suspense, amount), (purse.account, -amount)],
    }
    if kind not in lines:
        raise BusinessError(f"Unknown adjustment {kind!r}.")
    if kind == Adjustment.DEBIT_CAMPUS_CARD and amount > purse.account.balance:
        raise BusinessError(f"The purse holds only {purse.account.balance} fen.")
    journal = journal_post(kind=Journal.Kind.ADJUSTMENT, lines=lines[kind](), actor=actor,
                           reason=f"{kind}: {reason}")
    # Host-side changes of a purse reach the card only through a top-up terminal (0x40):
    # a refund is pending credit; a debit cancels pending credit first.
    if kind == Adjustment.REFUND_HOLDER:
        Purse.objects.filter(pk=purse.pk).update(pending=purse.pending + amount)
    elif kind == Adjustment.DEBIT_CAMPUS_CARD:
        Purse.objects.filter(pk=purse.pk).update(pending=purse.pending - amount)
    _audit(action="account_adjust", actor=actor, holder=holder, journal=journal, reason=reason,
           kind=kind, amount=amount)
    return journal


@transaction.atomic
def purse_credit_pending(*, purse: Purse, amount: int, kind: str, source: str, from_account: LedgerAccount,
                         actor=None, reason: str = "") -> Journal:
    """Credit a purse at the host (refund, correction): the money becomes pending to the card."""
    amount = _positive_amount(amount)
    purse = Purse.objects.select_for_update(of=("self",)).select_related("account").get(pk=purse.pk)
    journal = journal_post(kind=kind, actor=actor, reason=reason, source=source,
                           lines=[(from_account, amount), (purse.account, -amount)])
    Purse.objects.filter(pk=purse.pk).update(pending=purse.pending + amount)
    _audit(action="purse_credit", actor=actor, channel="staff" if actor else "system", holder=purse.holder,
           journal=journal, reason=reason, amount=amount)
    return journal


# Public names for the apps above accounts (merchants, terminals, settlement).
audit_write = _audit
permission_require = _require
