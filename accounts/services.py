"""Writes for cardholders, cards and purses. Each service validates first, then changes rows,
the ledger, the block list and the audit log in one transaction.

Channels: "staff" actions need an actor with the matching permission; "kiosk" is the
cardholder at the self-service machine; "system" is a scheduled task.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import identity, photos, validity
from .errors import BusinessError, NotAllowed
from .ledger import journal_post
from .models import (
    FORMAL_CATEGORIES,
    LIVE_STATUSES,
    AdjustmentLimit,
    AdjustmentRequest,
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
    UnitAgent,
)
from .signals import card_unfreeze_validate
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
REAL_NAME_TYPES = frozenset({CardType.FORMAL, CardType.ORDINARY})
# What each card service does to a card: (the statuses it starts from, or None for every status
# TRANSITIONS lets become the target; the target status, or None when the status stays and the card
# must be live; the card types it is for). The admin derives its buttons from this and TRANSITIONS.
CARD_ACTIONS: dict[str, tuple[frozenset[str] | None, str | None, frozenset[int]]] = {
    "report_loss": (None, S.LOST, REAL_NAME_TYPES),  # R-LOSS-1: consumption cards are anonymous
    "reverse_loss": (frozenset({S.LOST}), S.ACTIVE, frozenset(CardType)),  # R-LOSS-2
    "freeze": (None, S.FROZEN, frozenset(CardType)),  # R-FREEZE-1
    "unfreeze": (frozenset({S.FROZEN}), S.ACTIVE, frozenset(CardType)),
    "replace": (None, S.REPLACED, REAL_NAME_TYPES),  # R-REPLACE-1, R-REPLACE-2
    "extend": (frozenset(LIVE_STATUSES), None, frozenset(CardType)),  # R-CARD-6…8
    # A real-name card closes with its holder's account (R-CLOSE-1); a consumption card alone (R-CLOSE-3).
    "close": (None, S.CLOSED, frozenset({CardType.CONSUMPTION})),
}
FEE_PAYMENTS = ("cash", "purse", "bank")
BLOCKLIST_LOCK = 0x43430001  # advisory lock id: block-list versions commit in order
ADJUSTMENT_LIMIT_MAX = 10_000_000_000  # fen; the table's check constraint says the same


# --- helpers ------------------------------------------------------------------------

def _require(actor, perm: str) -> None:
    if actor is None or not actor.is_active or not actor.has_perm(perm):
        raise NotAllowed(_("You are not allowed to do this (%(perm)s).") % {"perm": perm})


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
        raise BusinessError(_("A reason is required."))
    return reason


def _no_unknown_fields(fields: dict, known: Iterable[str]) -> None:
    unknown = set(fields) - set(known)
    if unknown:
        raise BusinessError(_("Unknown fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})


def _fee_label(kind: str) -> str:
    return str(FeeSchedule.Kind(kind).label) if kind in FeeSchedule.Kind.values else kind


def _positive_amount(amount) -> int:
    value = _whole_fen(amount)
    if value <= 0:
        raise BusinessError(_("The amount must be greater than zero."))
    return value


def _whole_fen(amount) -> int:
    # Whole fen only: int() alone would truncate 12.7 to 12 and take True for 1.
    try:
        if isinstance(amount, bool):
            raise TypeError
        value = int(amount)  # "12" parses, "1.5" does not
        if not isinstance(amount, str) and value != amount:
            raise ValueError  # 12.7, Decimal("2.5")
    except (TypeError, ValueError, OverflowError):
        raise BusinessError(_("The amount must be a whole number of fen.")) from None
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
        raise BusinessError(_("Card %(card_no)s is %(status)s; it cannot become %(new)s.") % {
            "card_no": card.card_no, "status": card.get_status_display(), "new": S(new).label})
    card.status = new
    card.status_changed_at = timezone.now()
    card.save(update_fields=["status", "status_changed_at"])
    # Every change of usability reaches the terminals (R-TERM-3): only active cards pay.
    blocklist_append(card_no=card.card_no, op=0 if new == S.ACTIVE else 1, reason=new)
    _audit(action=action, actor=actor, channel=channel, card=card, reason=reason, old=old, new=new)
    return card


def card_action_applies(card: Card, action: str) -> bool:
    """Whether `action` (a key of CARD_ACTIONS) makes sense for `card` in its current state."""
    sources, target, types = CARD_ACTIONS[action]
    if card.card_type not in types or (sources is not None and card.status not in sources):
        return False
    return target is None or target in TRANSITIONS[card.status]


def _locked_card(card: Card | int) -> Card:
    pk = card.pk if isinstance(card, Card) else card
    return Card.objects.select_for_update(of=("self",)).select_related("holder", "purse__account").get(pk=pk)


def system_account(kind: str) -> LedgerAccount:
    return LedgerAccount.objects.get(kind=kind)


def cash_account_for(user, *, actor=None, reason: str = "") -> LedgerAccount:
    """The cash-on-hand account of a staff member who takes cash. Opened when the cash-operator
    role is granted (accounts.receivers), however it is granted: a terminal's cash top-up names
    the cashier by user id, and without an account it could only be held as an exception
    (unknown_operator). Staff taking a fee in cash open theirs on first use."""
    account, created = LedgerAccount.objects.get_or_create(
        operator=user,
        defaults={"kind": LedgerAccount.Kind.CASH, "code": f"CASH-{user.pk}", "name": f"库存现金 {user}",
                  "normal": LedgerAccount.NORMAL[LedgerAccount.Kind.CASH]},
    )
    if created:
        _audit(action="cash_account_open", actor=actor, channel="staff" if actor else "system", reason=reason,
               operator=user.pk, account=account.code)
    return account


def cash_operators_ensure_accounts(*, user_ids=None, reason: str = "授予现金充值业务人员角色") -> int:
    """Open the cash account of every holder of the cash-operator role (of `user_ids` only, when
    given) that has none. Idempotent; returns how many were opened."""
    from django.contrib.auth import get_user_model

    from .setup import ROLE_NAMES

    users = get_user_model().objects.filter(groups__name=ROLE_NAMES["cash_operator"], cash_account__isnull=True)
    if user_ids is not None:
        users = users.filter(pk__in=list(user_ids))
    opened = 0
    for user in users.distinct():
        cash_account_for(user, reason=reason)
        opened += 1
    return opened


def fee_amount(kind: str, on: dt.date | None = None) -> int:
    on = on or business_day()
    fee = FeeSchedule.objects.filter(kind=kind, effective_from__lte=on).order_by("-effective_from").first()
    if fee is None:
        raise BusinessError(_("No fee is in force on %(on)s: %(kind)s.") % {"kind": _fee_label(kind), "on": on})
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
        kind=LedgerAccount.Kind.PURSE, code=f"PURSE-{n}", name=f"电子钱包 {n}",
        normal=LedgerAccount.NORMAL[LedgerAccount.Kind.PURSE],
    )
    return Purse.objects.create(account=account, holder=holder)


def _charge_fee(*, purse: Purse, amount: int, payment: str, actor, reason: str, source: str | None = None):
    """Post a card fee to the card-fee special account (R-FEE-4)."""
    if amount == 0:
        return None
    if payment not in FEE_PAYMENTS:
        raise BusinessError(_("Unknown fee payment \"%(payment)s\".") % {"payment": payment})
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

HOLDER_FIELDS = ("name", "id_number", "category", "entry", "unit", "start_date", "end_date", "bank_card_no", "phone")


def _identity_fields_clean(fields: dict, category: str) -> dict:
    """ID number (python-stdnum: check digit, birth date) and mobile number, as stored."""
    if fields.get("id_number"):
        fields["id_number"] = identity.id_number_clean(fields["id_number"], category=category)
    if fields.get("phone"):
        fields["phone"] = identity.phone_clean(fields["phone"])
    return fields


@transaction.atomic
def holder_create(*, actor, number: str, name: str, category: str, **fields) -> Cardholder:
    _require(actor, "accounts.add_cardholder")
    _no_unknown_fields(fields, HOLDER_FIELDS)
    number, name = (number or "").strip(), (name or "").strip()
    if not number or not name:
        raise BusinessError(_("A cardholder needs a number and a name."))
    if category not in Category.values:
        raise BusinessError(_("Unknown category \"%(category)s\".") % {"category": category})
    number = identity.holder_number_clean(number)
    fields = _identity_fields_clean(fields, category)
    if Cardholder.objects.filter(number=number).exists():
        raise BusinessError(_("Cardholder %(number)s already exists.") % {"number": number})
    holder = Cardholder(number=number, name=name, category=category, **fields)
    holder.full_clean()
    holder.save()
    purse_create(holder=holder, label=number)
    _audit(action="holder_create", actor=actor, holder=holder, category=category)
    return holder


@transaction.atomic
def holder_update(*, actor, holder: Cardholder, reason: str = "", **fields) -> Cardholder:
    _require(actor, "accounts.change_cardholder")
    _no_unknown_fields(fields, HOLDER_FIELDS)
    holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
    # Only what changes is checked again: a number on file from before the check stays as it is.
    fields = dict(fields)
    fields.update(_identity_fields_clean({k: fields[k] for k in ("id_number", "phone")
                                          if k in fields and fields[k] != getattr(holder, k)},
                                         fields.get("category", holder.category)))
    changed = {k: str(v) for k, v in fields.items() if getattr(holder, k) != v}
    for k, v in fields.items():
        setattr(holder, k, v)
    holder.full_clean()
    holder.save()
    for secret in ("id_number", "phone"):
        changed.pop(secret, None) and changed.update({secret: "(changed)"})
    _audit(action="holder_update", actor=actor, holder=holder, reason=reason, changed=changed)
    return holder


@transaction.atomic
def holder_set_kiosk_password(*, actor, holder: Cardholder, raw_password: str) -> None:
    _require(actor, "accounts.change_cardholder")
    if not isinstance(raw_password, str) or not re.fullmatch(r"[0-9]{6,12}", raw_password):  # ASCII: not '²'
        raise BusinessError(_("The kiosk password must be 6 to 12 digits."))
    Cardholder.objects.filter(pk=holder.pk).update(
        kiosk_password=make_password(raw_password), kiosk_failures=0, kiosk_locked_until=None
    )
    _audit(action="holder_kiosk_password", actor=actor, holder=holder)


@transaction.atomic
def holder_photo_set(*, actor, holder: Cardholder, content: bytes) -> Cardholder:
    """A new photo for the holder's page and the card face; the old file stays for the record."""
    _require(actor, "accounts.change_cardholder")
    jpeg = photos.photo_normalise(content)
    holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
    holder.photo.save(f"{holder.pk}-{secrets.token_hex(4)}.jpg", ContentFile(jpeg), save=False)
    holder.save(update_fields=["photo"])
    _audit(action="holder_photo", actor=actor, holder=holder)
    return holder


def holder_eligible(holder: Cardholder, card_type: int) -> str | None:
    """Why `holder` may not hold a card of `card_type`, or None (R-CARD-2, R-CARD-3, R-CARD-4)."""
    if holder.status != Cardholder.Status.ACTIVE:
        return _("%(holder)s has a closed account; they must apply again as a new applicant (R-CLOSE-4).") % {
            "holder": holder}
    if card_type == CardType.FORMAL and holder.category not in FORMAL_CATEGORIES:
        return _("%(holder)s (%(category)s) is not eligible for a formal card (R-CARD-2).") % {
            "holder": holder, "category": holder.get_category_display()}
    if card_type == CardType.ORDINARY:
        if holder.category in FORMAL_CATEGORIES:
            return _("%(holder)s is eligible for a formal card, not an ordinary one (R-CARD-3).") % {"holder": holder}
        if holder.category == Category.SHORT_TERM:
            return _("%(holder)s is a short-term visitor: consumption cards only (R-CARD-4).") % {"holder": holder}
    if card_type in (CardType.FORMAL, CardType.ORDINARY) and holder.cards.filter(
        card_type=card_type, status__in=LIVE_STATUSES
    ).exists():
        return _("%(holder)s already has a live %(card_type)s (R-CARD-2, R-CARD-3).") % {
            "holder": holder, "card_type": CardType(card_type).label}
    return None


@transaction.atomic
def holder_reopen(*, actor, holder: Cardholder, reason: str) -> Cardholder:
    """A closed holder applies again as a new applicant (R-CLOSE-4)."""
    _require(actor, "accounts.issue_card")
    reason = _reason_required(reason)
    holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
    if holder.status != Cardholder.Status.CLOSED:
        raise BusinessError(_("%(holder)s is not closed.") % {"holder": holder})
    holder.status, holder.closed_at = Cardholder.Status.ACTIVE, None
    holder.save(update_fields=["status", "closed_at"])
    _audit(action="holder_reopen", actor=actor, holder=holder, reason=reason)
    return holder


# --- units and their batch agents -----------------------------------------------------

UNIT_FIELDS = ("code", "name")


def _unit_fields_clean(fields: dict) -> dict:
    _no_unknown_fields(fields, UNIT_FIELDS)
    out = {k: (v or "").strip() for k, v in fields.items()}
    if "code" in out and not out["code"]:
        raise BusinessError(_("A unit needs a code."))
    if "name" in out and not out["name"]:
        raise BusinessError(_("A unit needs a name."))
    return out


@transaction.atomic
def unit_create(*, actor, code: str, name: str, reason: str = "") -> Unit:
    """A new employing or teaching unit, which may then apply for batches (R-ISSUE-2)."""
    _require(actor, "accounts.add_unit")
    fields = _unit_fields_clean({"code": code, "name": name})
    if Unit.objects.filter(code__iexact=fields["code"]).exists():
        raise BusinessError(_("Unit %(code)s already exists.") % {"code": fields["code"]})
    unit = Unit(**fields)
    unit.full_clean()
    unit.save()
    _audit(action="unit_create", actor=actor, reason=reason, unit=unit.code, name=unit.name)
    return unit


@transaction.atomic
def unit_update(*, actor, unit: Unit, reason: str = "", **fields) -> Unit:
    _require(actor, "accounts.change_unit")
    fields = _unit_fields_clean(fields)
    unit = Unit.objects.select_for_update().get(pk=unit.pk)
    if "code" in fields and Unit.objects.filter(code__iexact=fields["code"]).exclude(pk=unit.pk).exists():
        raise BusinessError(_("Unit %(code)s already exists.") % {"code": fields["code"]})
    changed = {k: [getattr(unit, k), v] for k, v in fields.items() if getattr(unit, k) != v}
    for k, v in fields.items():
        setattr(unit, k, v)
    unit.full_clean()
    unit.save()
    if changed:
        _audit(action="unit_update", actor=actor, reason=reason, unit=unit.code, changed=changed)
    return unit


def _is_unit_agent(user) -> bool:
    from .setup import ROLE_NAMES

    return user.groups.filter(name=ROLE_NAMES["unit_agent"]).exists()


@transaction.atomic
def unit_agents_set(*, actor, unit: Unit, users: Iterable, reason: str = "") -> list[UnitAgent]:
    """Make `users` the batch agents of `unit` (R-ISSUE-2); agents not listed are untied from it.
    Each must hold the unit-agent role and may act for one unit only."""
    _require(actor, "accounts.change_unit")
    unit = Unit.objects.select_for_update().get(pk=unit.pk)
    users = list({u.pk: u for u in users}.values())
    for user in users:
        if not user.is_active or not _is_unit_agent(user):
            raise BusinessError(_("%(user)s does not hold the unit batch agent role.") % {"user": user})
        other = UnitAgent.objects.filter(user=user).exclude(unit=unit).select_related("unit").first()
        if other is not None:
            raise BusinessError(_("%(user)s is already the batch agent of %(unit)s; untie them there first.") % {
                "user": user, "unit": other.unit})
    current = {a.user_id: a for a in UnitAgent.objects.filter(unit=unit).select_related("user")}
    wanted = {u.pk for u in users}
    removed = [a for pk, a in current.items() if pk not in wanted]
    added = [UnitAgent.objects.create(user=u, unit=unit) for u in users if u.pk not in current]
    UnitAgent.objects.filter(pk__in=[a.pk for a in removed]).delete()
    if added or removed:
        _audit(action="unit_agents_set", actor=actor, reason=reason, unit=unit.code,
               added=sorted(a.user.get_username() for a in added),
               removed=sorted(a.user.get_username() for a in removed))
    return list(UnitAgent.objects.filter(unit=unit).select_related("user"))


def batch_units_for(actor):
    """The units `actor` may import batches for (R-ISSUE-2): a unit's batch agent only their own
    unit; card-centre staff (who issue cards) any unit; anyone else none."""
    if actor is None or not actor.is_active or not actor.has_perm("accounts.import_batch"):
        return Unit.objects.none()
    agent = UnitAgent.objects.filter(user=actor).first()
    if agent is not None:
        return Unit.objects.filter(pk=agent.unit_id)
    if actor.has_perm("accounts.issue_card"):
        return Unit.objects.all()
    return Unit.objects.none()


def _batch_unit_check(actor, unit: Unit) -> None:
    if batch_units_for(actor).filter(pk=unit.pk).exists():
        return
    agent = UnitAgent.objects.filter(user=actor).select_related("unit").first()
    if agent is not None:
        raise NotAllowed(_("You are the batch agent of %(own)s; you cannot apply for %(unit)s (R-ISSUE-2).") % {
            "own": agent.unit, "unit": unit})
    raise NotAllowed(_("Only the card centre or the unit's own batch agent may apply for a batch of %(unit)s "
                       "(R-ISSUE-2).") % {"unit": unit})


# --- fee schedule -------------------------------------------------------------------

@transaction.atomic
def fee_schedule_add(*, actor, kind: str, amount, effective_from: dt.date, reason: str) -> FeeSchedule:
    """The school sets a fee from a date on (R-FEE-2, R-FEE-3). Fees in force before are history:
    nothing is changed, and a new fee starts today at the earliest."""
    _require(actor, "accounts.add_feeschedule")
    reason = _reason_required(reason)
    if kind not in FeeSchedule.Kind.values:
        raise BusinessError(_("Unknown fee \"%(kind)s\".") % {"kind": kind})
    amount = _whole_fen(amount)
    if amount < 0:
        raise BusinessError(_("A fee cannot be negative."))
    if not isinstance(effective_from, dt.date) or isinstance(effective_from, dt.datetime):
        raise BusinessError(_("The fee needs the date it takes effect."))
    today = business_day()
    if effective_from < today:
        raise BusinessError(_("A fee cannot take effect in the past (%(date)s); the earliest is today, %(today)s.") % {
            "date": effective_from, "today": today})
    if FeeSchedule.objects.filter(kind=kind, effective_from=effective_from).exists():
        raise BusinessError(_("A fee already takes effect on %(date)s: %(kind)s.") % {
            "kind": _fee_label(kind), "date": effective_from})
    before = FeeSchedule.objects.filter(kind=kind, effective_from__lte=effective_from).order_by("-effective_from").first()
    fee = FeeSchedule.objects.create(kind=kind, amount=amount, effective_from=effective_from)
    _audit(action="fee_schedule_add", actor=actor, reason=reason, kind=kind, amount=amount,
           effective_from=str(effective_from), previous=before.amount if before else None)
    return fee


# --- issue --------------------------------------------------------------------------

def _new_card(*, card_type: int, holder, purse: Purse, issued_on: dt.date, unit=None, batch=None,
              replaces=None, label: str = "", valid_until: dt.date | None = None) -> Card:
    valid_until = valid_until or validity.initial_validity(card_type, holder, issued_on)
    if valid_until < issued_on:  # R-CARD-9: it would only pay until tonight's expiry run
        raise BusinessError(_("%(holder)s: the card would be valid only until %(date)s, which has passed.") % {
            "holder": holder, "date": valid_until})
    card = Card(
        card_no=_next_card_no(), card_type=card_type, holder=holder, purse=purse, issued_on=issued_on,
        valid_until=valid_until, unit=unit, batch=batch, replaces=replaces, label=label,
    )
    try:
        with transaction.atomic():
            card.save()
    except IntegrityError as exc:
        raise BusinessError(_("%(holder)s already has a live %(card_type)s.") % {
            "holder": holder, "card_type": CardType(card_type).label}) from exc
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
                          reason=f"{holder.number} 正式卡工本费")
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
    from .imports import MAX_ROWS, BatchRejected, batch_rows_validate

    _batch_unit_check(actor, unit)

    if fee_payment not in ("bank", "cash"):
        raise BusinessError(_("Batch fees are paid by the unit (bank or cash), not from purses."))
    if card_type not in (CardType.ORDINARY, CardType.CONSUMPTION):
        raise BusinessError(_("Only ordinary and consumption cards are issued in batches (R-ISSUE-2)."))
    if card_type == CardType.CONSUMPTION and not rows:
        if not 1 <= int(quantity or 0) <= MAX_ROWS:
            raise BusinessError(_("A consumption batch needs a quantity between 1 and %(max)d.") % {"max": MAX_ROWS})
        rows = [{"label": ""} for _i in range(int(quantity))]
    if not rows:
        raise BusinessError(_("The batch has no rows."))
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
                              reason=f"批次 {batch.pk}：{batch.rows} 张卡工本费", source=f"batch-fee:{batch.pk}")
        _audit(action="batch_fee", actor=actor, journal=journal, batch=batch.pk, amount=batch.fee_total)
    return batch


# --- loss, freeze -------------------------------------------------------------------

def _staff_or_kiosk(actor, channel: str, perm: str) -> None:
    if channel == "staff":
        _require(actor, perm)
    elif channel not in ("kiosk", "system"):
        raise BusinessError(_("Unknown channel \"%(channel)s\".") % {"channel": channel})


@transaction.atomic
def card_report_loss(*, card: Card, actor=None, channel: str = "staff", reason: str = "") -> Card:
    """Report a card lost (R-LOSS-1): from now on every terminal refuses it."""
    _staff_or_kiosk(actor, channel, "accounts.report_loss")
    card = _locked_card(card)
    if card.card_type == CardType.CONSUMPTION:
        raise BusinessError(_("A consumption card is anonymous and cannot be reported lost (R-LOSS-1)."))
    if card.status == S.LOST:
        raise BusinessError(_("Card %(card_no)s is already reported lost.") % {"card_no": card.card_no})
    return _set_status(card, S.LOST, action="card_report_loss", actor=actor, channel=channel,
                       reason=reason or "reported lost")


def holder_id_check(*, holder: Cardholder, id_number: str) -> None:
    """The ID presented in person is the holder's (R-LOSS-2, R-FREEZE-1): refused when it differs
    or when no ID number is on file to compare with."""
    if not holder.id_number:
        raise BusinessError(_("%(holder)s has no ID number on file; record it from the ID presented first.") % {
            "holder": holder})
    if not identity.id_numbers_match(holder.id_number, id_number):
        raise BusinessError(_("The ID number presented is not the one on file for %(holder)s.") % {"holder": holder})


@transaction.atomic
def card_reverse_loss(*, card: Card, actor, reason: str, id_number: str | None = None) -> Card:
    """Reverse a loss report in person with ID (R-LOSS-2). With `id_number` (the desk), the ID
    presented must be the holder's."""
    _require(actor, "accounts.report_loss")
    reason = _reason_required(reason)
    card = _locked_card(card)
    if id_number is not None and card.holder is not None:
        holder_id_check(holder=card.holder, id_number=id_number)
    if card.status != S.LOST:
        raise BusinessError(_("Card %(card_no)s is not reported lost.") % {"card_no": card.card_no})
    target = S.EXPIRED if card.valid_until < business_day() else S.ACTIVE
    return _set_status(card, target, action="card_reverse_loss", actor=actor, channel="staff", reason=reason)


@transaction.atomic
def card_freeze(*, card: Card, actor=None, channel: str = "staff", reason: str) -> Card:
    """Freeze a card whose on-card state and account disagree (R-FREEZE-1)."""
    if channel == "kiosk":  # the kiosk reports loss and queries balance, nothing else
        raise NotAllowed(_("A card is frozen by the centre or the system, not at the kiosk."))
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
        raise BusinessError(_("Card %(card_no)s is not frozen.") % {"card_no": card.card_no})
    card_unfreeze_validate.send(sender=Card, card=card)  # terminals: open card-vs-account flags refuse
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
        raise BusinessError(_("A consumption card is never replaced; the holder buys a new one (R-REPLACE-2)."))
    if card.holder.status != Cardholder.Status.ACTIVE:
        raise BusinessError(_("%(holder)s has a closed account.") % {"holder": card.holder})
    today = business_day()
    fee = fee_amount(FeeSchedule.Kind.REPLACEMENT, today)
    _set_status(card, S.REPLACED, action="card_replaced", actor=actor, channel="staff", reason=reason)
    purse = Purse.objects.select_related("account").select_for_update().get(pk=card.purse_id)
    journal = _charge_fee(purse=purse, amount=fee, payment=fee_payment, actor=actor,
                          reason=f"补卡 {card.card_no} 工本费")
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
        raise BusinessError(_("Card %(card_no)s is %(status)s.") % {"card_no": card.card_no, "status": card.get_status_display()})
    today = business_day()
    limit = validity.extension_limit(card, today, proof_end_date)
    until = until or limit
    if until > limit:
        raise BusinessError(_("Card %(card_no)s can be extended to %(date)s at most.") % {"card_no": card.card_no, "date": limit})
    if until <= max(card.valid_until, today):
        raise BusinessError(_("The new date must be after %(date)s.") % {"date": max(card.valid_until, today)})
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
        raise BusinessError(_("A consumption card only pays at merchants (R-CARD-5)."))
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
        raise BusinessError(_("Unknown payout method \"%(payout)s\".") % {"payout": payout})
    if (holder is None) == (card is None):
        raise BusinessError(_("Close either a cardholder's account or one consumption card."))
    if card is not None:
        card = _locked_card(card)
        if card.card_type != CardType.CONSUMPTION:
            raise BusinessError(_("A real-name card is closed with its holder's account."))
        if payout == "bank" and card.purse.account.balance:
            raise BusinessError(_("An anonymous consumption card has no bank card: pay its balance out in cash."))
        cards, purse, source = [card], card.purse, f"close-card:{card.pk}"
    else:
        holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
        if holder.status == Cardholder.Status.CLOSED:
            raise BusinessError(_("%(holder)s is already closed.") % {"holder": holder})
        cards = [_locked_card(c) for c in holder.cards.filter(status__in=LIVE_STATUSES).order_by("pk")]
        purse = holder.purse
        source = f"close-holder:{holder.pk}:{holder.audit.count()}"
        if payout == "bank" and purse.account.balance and not holder.bank_card_no:
            raise BusinessError(_("%(holder)s has no bank card on file for the payout.") % {"holder": holder})
    for c in cards:
        if c.functions:
            raise BusinessError(_(
                "Card %(card_no)s still has %(functions)s switched on; the subsystem must close them first (R-CLOSE-1)."
            ) % {"card_no": c.card_no, "functions": ", ".join(c.functions)})
    if card is not None and not card.is_live:
        raise BusinessError(_("Card %(card_no)s is already %(status)s.") % {
            "card_no": card.card_no, "status": card.get_status_display()})
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


# --- adjustments: requested by one person, approved by another (R-ADJ-1) --------------------

def adjustment_limit(on: dt.date | None = None) -> int:
    """The most one adjustment may move, in fen, as the school set it (AdjustmentLimit)."""
    on = on or business_day()
    limit = AdjustmentLimit.objects.filter(effective_from__lte=on).order_by("-effective_from").first()
    if limit is None:
        raise BusinessError(_("No adjustment limit is in force on %(on)s; the super admin sets one.") % {"on": on})
    return limit.amount


@transaction.atomic
def adjustment_limit_set(*, actor, amount, effective_from: dt.date, reason: str) -> AdjustmentLimit:
    """The school sets the adjustment limit from a date on (today at the earliest), like a fee."""
    _require(actor, "accounts.add_adjustmentlimit")
    reason = _reason_required(reason)
    amount = _positive_amount(amount)
    if amount > ADJUSTMENT_LIMIT_MAX:
        raise BusinessError(_("An adjustment limit is at most %(max)s fen.") % {"max": ADJUSTMENT_LIMIT_MAX})
    if not isinstance(effective_from, dt.date) or isinstance(effective_from, dt.datetime):
        raise BusinessError(_("The limit needs the date it takes effect."))
    if effective_from < business_day():
        raise BusinessError(_("A limit cannot take effect in the past."))
    if AdjustmentLimit.objects.filter(effective_from=effective_from).exists():
        raise BusinessError(_("A limit already takes effect on %(date)s.") % {"date": effective_from})
    limit = AdjustmentLimit.objects.create(amount=amount, effective_from=effective_from)
    _audit(action="adjustment_limit_set", actor=actor, reason=reason, amount=amount,
           effective_from=str(effective_from))
    return limit


def _adjustment_checked(*, holder: Cardholder, kind: str, amount, purse: Purse | None = None) -> int:
    """The amount in fen, once it passes every rule an adjustment must pass when asked for and
    again when approved: a known kind, whole positive fen within the limit in force, an open
    account, and a debit of the campus card no larger than its purse."""
    if kind not in dict(Adjustment.CHOICES):
        raise BusinessError(_("Unknown adjustment \"%(kind)s\".") % {"kind": kind})
    amount = _positive_amount(amount)
    limit = adjustment_limit()
    if amount > limit:
        raise BusinessError(_("One adjustment moves at most %(limit)s fen (the limit in force); %(amount)s fen "
                              "is more.") % {"limit": limit, "amount": amount})
    if holder.status != Cardholder.Status.ACTIVE:
        raise BusinessError(_("%(holder)s has a closed account.") % {"holder": holder})
    purse = purse or Purse.objects.select_related("account").get(holder=holder)
    if kind == Adjustment.DEBIT_CAMPUS_CARD and amount > purse.account.balance:
        raise BusinessError(_("The purse holds only %(amount)s fen.") % {"amount": purse.account.balance})
    return amount


@transaction.atomic
def adjustment_request(*, actor, holder: Cardholder, kind: str, amount, reason: str,
                       bank_ref: str = "") -> AdjustmentRequest:
    """Ask for one of the four adjustments of R-ADJ-1. Nothing moves until another person approves
    (adjustment_decide). The holder page, the finance desk and the admin all file through here."""
    _require(actor, "accounts.add_adjustmentrequest")
    reason = _reason_required(reason)[:200]
    holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
    amount = _adjustment_checked(holder=holder, kind=kind, amount=amount)
    req = AdjustmentRequest.objects.create(holder=holder, kind=kind, amount=amount, reason=reason,
                                           bank_ref=(bank_ref or "").strip()[:60], requested_by=actor)
    _audit(action="adjustment_request", actor=actor, holder=holder, reason=reason, request=req.pk, kind=kind,
           amount=amount)
    return req


@transaction.atomic
def adjustment_decide(*, actor, request: AdjustmentRequest, approve: bool, note: str = "") -> AdjustmentRequest:
    """A second person approves (the adjustment is posted through the ledger, with its audit, in
    this transaction) or rejects with a note. Whoever asked never decides, whatever their role."""
    _require(actor, "accounts.adjust_account")
    req = AdjustmentRequest.objects.select_for_update().select_related("holder").get(pk=request.pk)
    if req.status != AdjustmentRequest.Status.PENDING:
        raise BusinessError(_("This request is %(status)s.") % {"status": req.get_status_display()})
    if req.requested_by_id == actor.pk:
        raise BusinessError(_("An adjustment must be approved by someone other than who asked for it (R-ADJ-1)."))
    note = (note or "").strip()
    if approve:
        req.journal = _adjustment_post(actor=actor, req=req)
    else:
        note = _reason_required(note)
    req.status = AdjustmentRequest.Status.APPROVED if approve else AdjustmentRequest.Status.REJECTED
    req.decided_by, req.decided_at, req.decision_note = actor, timezone.now(), note[:200]
    req.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "journal"])
    _audit(action="adjustment_decide", actor=actor, holder=req.holder, journal=req.journal, reason=note,
           request=req.pk, approved=approve)
    return req


def _adjustment_post(*, actor, req: AdjustmentRequest) -> Journal:
    """Post an approved request: the difference waits in the suspense account; each kind clears it
    one way. The rules are checked again, with the holder and the purse locked."""
    holder = Cardholder.objects.select_for_update().get(pk=req.holder_id)
    purse = Purse.objects.select_for_update(of=("self",)).select_related("account").get(holder=holder)
    kind = req.kind
    amount = _adjustment_checked(holder=holder, kind=kind, amount=req.amount, purse=purse)
    suspense = system_account(LedgerAccount.Kind.SUSPENSE)
    lines = {
        Adjustment.DEBIT_BANK_CARD: lambda: [(system_account(LedgerAccount.Kind.BANK), amount), (suspense, -amount)],
        # The holder pays in at the counter of whoever filed the request: the cash is theirs to hand over.
        Adjustment.HOLDER_PAYS_IN: lambda: [(cash_account_for(req.requested_by), amount), (suspense, -amount)],
        Adjustment.DEBIT_CAMPUS_CARD: lambda: [(purse.account, amount), (suspense, -amount)],
        Adjustment.REFUND_HOLDER: lambda: [(suspense, amount), (purse.account, -amount)],
    }
    ref = f"request #{req.pk}" + (f", bank {req.bank_ref}" if req.bank_ref else "")
    journal = journal_post(kind=Journal.Kind.ADJUSTMENT, lines=lines[kind](), actor=actor,
                           reason=f"{kind}: {req.reason} ({ref})"[:200], source=f"adjustment:{req.pk}")
    # Host-side changes of a purse reach the card only through a top-up terminal (0x40):
    # a refund is pending credit; a debit cancels pending credit first.
    if kind == Adjustment.REFUND_HOLDER:
        Purse.objects.filter(pk=purse.pk).update(pending=purse.pending + amount)
    elif kind == Adjustment.DEBIT_CAMPUS_CARD:
        Purse.objects.filter(pk=purse.pk).update(pending=purse.pending - amount)
    _audit(action="account_adjust", actor=actor, holder=holder, journal=journal, reason=req.reason,
           kind=kind, amount=amount, request=req.pk, requested_by=req.requested_by_id)
    return journal


CASH_DEPOSIT_KEY = re.compile(r"^[0-9a-f]{32}$")


def cash_deposit_key() -> str:
    """A one-time key for a deposit form: the form carries it, the journal's source keeps it."""
    return secrets.token_hex(16)


@transaction.atomic
def purse_deposit_cash(*, actor, amount, key: str, holder: Cardholder | None = None, card: Card | None = None,
                       reason: str = "") -> Journal:
    """Cash taken at the counter (现金充值): the operator's cash on hand against the holder's purse
    (or an anonymous consumption card's). The counter writes no card, so the money is pending
    credit (过渡余额) that the card takes at any top-up point. `key` is the form's one-time key:
    the same form sent twice posts once and returns the first journal."""
    _require(actor, "accounts.deposit_cash")
    amount = _positive_amount(amount)
    limit = settings.CASH_DEPOSIT_MAX_FEN
    if amount > limit:
        raise BusinessError(_("A counter deposit is at most %(limit)s yuan.") % {"limit": f"{limit // 100}.{limit % 100:02d}"})
    if not CASH_DEPOSIT_KEY.match(key or ""):
        raise BusinessError(_("The deposit form has expired; open it again."))
    if (holder is None) == (card is None):
        raise BusinessError(_("Deposit to either a cardholder's account or one consumption card."))
    source = f"cash-deposit:{key}"
    done = Journal.objects.filter(source=source).first()
    if done is not None:
        if done.actor_id != actor.pk or not done.postings.filter(amount=amount).exists():
            raise BusinessError(_("This deposit form was already used for another deposit; open it again."))
        return done
    if card is not None:
        card = _locked_card(card)
        if card.card_type != CardType.CONSUMPTION:
            holder, card = card.holder, None  # a real-name card's money is its holder's account
        elif not card.is_live:
            raise BusinessError(_("Card %(card_no)s is %(status)s.") % {
                "card_no": card.card_no, "status": card.get_status_display()})
    if holder is not None:
        holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
        if holder.status != Cardholder.Status.ACTIVE:
            raise BusinessError(_("%(holder)s has a closed account.") % {"holder": holder})
        purse_id = holder.purse.pk
    else:
        purse_id = card.purse_id
    purse = Purse.objects.select_for_update(of=("self",)).select_related("account").get(pk=purse_id)
    journal = journal_post(kind=Journal.Kind.DEPOSIT, actor=actor, source=source,
                           reason=(reason or "柜台现金充值")[:200],
                           lines=[(cash_account_for(actor), amount), (purse.account, -amount)])
    Purse.objects.filter(pk=purse.pk).update(pending=purse.pending + amount)
    _audit(action="cash_deposit", actor=actor, holder=holder, card=card, journal=journal, reason=reason,
           amount=amount, balance=purse.account.balance, pending=purse.pending + amount)
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
