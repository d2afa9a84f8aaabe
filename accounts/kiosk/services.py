"""Kiosk sign-in, loss reports and query-password resets for the cardholder at the self-service
machine.

Sign-in (by staff/student number or ID number) never tells an unknown number from a wrong
password or a locked holder: one answer, and the same password-hash work on every path, so the
kiosk cannot be used to list holders. The password reset (ID number and the registered mobile
number) answers the same way and counts towards the same lock.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import identity
from ..errors import BusinessError
from ..models import Card, Cardholder, CardType
from ..services import audit_write, card_action_applies, card_report_loss

MAX_FAILURES = 5
LOCK_MINUTES = 15


def kiosk_idle_seconds() -> int:
    return int(getattr(settings, "KIOSK_IDLE_SECONDS", 60))


def _holder_for_update(key: str) -> Cardholder | None:
    """The active holder a person at the kiosk names by staff/student number (letters and digits,
    as imported: T2026001) or by ID number; None when nobody or more than one matches."""
    key = (key or "").strip()
    if not key or "\x00" in key or len(key) > 32:
        return None
    active = Cardholder.objects.select_for_update().filter(status=Cardholder.Status.ACTIVE)
    for number in dict.fromkeys((key, key.upper())):
        holder = active.filter(number=number).first()
        if holder is not None:
            return holder
    id_number = key.replace(" ", "").upper()
    if len(id_number) >= 15:
        found = list(active.filter(id_number=id_number)[:2])
        if len(found) == 1:
            return found[0]
    return None


def _failure(holder: Cardholder, now, why: str) -> None:
    """One more wrong answer for the holder; the fifth locks the kiosk for them for 15 minutes."""
    failures = holder.kiosk_failures + 1
    if failures >= MAX_FAILURES:
        until = now + dt.timedelta(minutes=LOCK_MINUTES)
        Cardholder.objects.filter(pk=holder.pk).update(kiosk_failures=0, kiosk_locked_until=until)
        audit_write(action="kiosk_locked", channel="kiosk", holder=holder, reason=why, until=until.isoformat())
    else:
        Cardholder.objects.filter(pk=holder.pk).update(kiosk_failures=failures)


def kiosk_authenticate(*, number: str, password: str) -> Cardholder | None:
    """The holder whose staff/student number or ID number and query password match, or None. Five
    wrong passwords lock the holder's kiosk access for 15 minutes; the lock is counted even though
    the answer is 'no'."""
    password = password or ""
    with transaction.atomic():
        holder = _holder_for_update(number)
        if holder is None or not holder.kiosk_password:
            make_password(password)  # the same hashing work as a real check (no timing oracle)
            return None
        ok = check_password(password, holder.kiosk_password)
        now = timezone.now()
        if holder.kiosk_locked_until and holder.kiosk_locked_until > now:
            return None  # locked: even the right password is refused until the lock ends
        if ok:
            if holder.kiosk_failures or holder.kiosk_locked_until:
                Cardholder.objects.filter(pk=holder.pk).update(kiosk_failures=0, kiosk_locked_until=None)
            return holder
        _failure(holder, now, "5 wrong kiosk passwords")
        return None


def kiosk_password_valid(raw: str) -> bool:
    return bool(raw) and raw.isascii() and raw.isdigit() and 6 <= len(raw) <= 12


def kiosk_password_reset(*, id_number: str, phone: str, new_password: str) -> bool:
    """A holder who forgot (or never had) a query password sets one with their ID number and the
    mobile number registered with the card centre. True when it is set; False for an unknown ID
    number, a wrong or missing phone and a locked holder alike (one answer, one password hash on
    every path). Wrong phones count towards the same lock as wrong passwords."""
    if not kiosk_password_valid(new_password):
        raise BusinessError(_("The query password must be 6 to 12 digits."))
    hashed = make_password(new_password)  # before the lookup: every path does this work once
    try:
        phone = identity.phone_clean(phone)
    except BusinessError:
        phone = ""
    with transaction.atomic():
        key = (id_number or "").replace(" ", "").upper()
        holder = _holder_for_update(key) if len(key) >= 15 else None
        if holder is None or holder.id_number.upper() != key:
            return False
        now = timezone.now()
        if holder.kiosk_locked_until and holder.kiosk_locked_until > now:
            return False
        if not holder.phone or not phone or holder.phone != phone:
            _failure(holder, now, "5 wrong kiosk answers (password reset)")
            return False
        Cardholder.objects.filter(pk=holder.pk).update(kiosk_password=hashed, kiosk_failures=0, kiosk_locked_until=None)
        audit_write(action="kiosk_password_reset", channel="kiosk", holder=holder, reason="ID number and phone")
        return True


def kiosk_cards(*, holder: Cardholder) -> list[Card]:
    """The holder's cards still in use or reported lost, newest first (replaced/closed ones are history)."""
    return list(
        Card.objects.filter(holder=holder, status__in=("active", "lost", "frozen", "expired"))
        .select_related("purse__account").order_by("-issued_on", "-id")
    )


def kiosk_balance(*, holder: Cardholder) -> int:
    """The holder's purse balance in fen (one purse for all their cards)."""
    return holder.purse.account.balance


def kiosk_pending(*, holder: Cardholder) -> int:
    """Credit booked to the account that no card holds yet (过渡余额): taken at a top-up point."""
    return max(holder.purse.pending, 0)


# Who reads a holder's card transactions (terminal records live in terminals/, above accounts):
# the top layer sets it at start-up (desk.apps). Without it the kiosk shows the purse's ledger.
transactions_reader = None
KIOSK_TRANSACTIONS = 10


def kiosk_transactions(*, holder: Cardholder) -> list[dict]:
    """The holder's last transactions, newest first: {time, what, amount (fen, + in / − out)}."""
    from ..selectors import purse_postings

    card_nos = list(Card.objects.filter(holder=holder).values_list("card_no", flat=True))
    if transactions_reader is None or not card_nos:
        return [{"time": p["at"], "what": p["kind_label"], "kind": p["kind"], "amount": p["amount"]}
                for p in purse_postings(account=holder.purse.account, limit=KIOSK_TRANSACTIONS)]
    # Purchases and cash at top-up terminals record by record (with the merchant's name); what the
    # centre booked (counter deposits, fees, refunds) from the ledger. Writing pending credit onto
    # the card (a DEPOSIT with operator 0) moved no money: it is not listed again.
    rows = [{"time": r["time"], "what": r["merchant"] or r["terminal"], "kind": r["kind_code"],
             "amount": -r["total"] if r["kind_code"] == "purchase" else r["total"]}
            for r in transactions_reader(card_nos=card_nos, limit=KIOSK_TRANSACTIONS)
            if r["status"] in ("posted", "held") and r["kind_code"] != "pending_write"]
    rows += [{"time": p["at"], "what": p["kind_label"], "kind": p["kind"], "amount": p["amount"]}
             for p in purse_postings(account=holder.purse.account, limit=KIOSK_TRANSACTIONS, host_only=True)]
    return sorted(rows, key=lambda r: r["time"], reverse=True)[:KIOSK_TRANSACTIONS]


def kiosk_loss_reason(card: Card) -> str | None:
    """Why this card cannot be reported lost at the kiosk, as a code, or None. Whether it can is
    the card services' rule (CARD_ACTIONS, as the admin's buttons); only the wording is the kiosk's."""
    if card_action_applies(card, "report_loss"):
        return None
    if card.card_type == CardType.CONSUMPTION:
        return "consumption"  # R-LOSS-1
    if card.status == "lost":
        return "already_lost"
    if card.status == "frozen":
        return "frozen"  # already refused everywhere; unfrozen only in person (R-FREEZE-1)
    return "not_live"


def kiosk_loss_report(*, holder: Cardholder, card_no: int) -> Card:
    """Report one of the holder's own cards lost (R-LOSS-1); the block list changes at once."""
    card = Card.objects.filter(holder=holder, card_no=card_no).first()
    if card is None:
        raise Card.DoesNotExist
    if kiosk_loss_reason(card) == "consumption":
        raise BusinessError(_("A consumption card is anonymous and cannot be reported lost (R-LOSS-1)."))
    return card_report_loss(card=card, channel="kiosk", reason="自助挂失 kiosk")
