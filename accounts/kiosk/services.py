"""Kiosk sign-in and loss reports for the cardholder at the self-service machine.

Sign-in never tells an unknown number from a wrong password or a locked holder: one answer,
and the same password-hash work on every path, so the kiosk cannot be used to list holders.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..errors import BusinessError
from ..models import Card, Cardholder, CardType
from ..services import audit_write, card_action_applies, card_report_loss

MAX_FAILURES = 5
LOCK_MINUTES = 15


def kiosk_idle_seconds() -> int:
    return int(getattr(settings, "KIOSK_IDLE_SECONDS", 60))


def kiosk_authenticate(*, number: str, password: str) -> Cardholder | None:
    """The holder whose number and query password match, or None. Five wrong passwords lock the
    holder's kiosk access for 15 minutes; the lock is counted even though the answer is 'no'."""
    number, password = (number or "").strip(), password or ""
    with transaction.atomic():
        holder = (
            Cardholder.objects.select_for_update().filter(number=number, status=Cardholder.Status.ACTIVE).first()
            if number else None
        )
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
        failures = holder.kiosk_failures + 1
        if failures >= MAX_FAILURES:
            until = now + dt.timedelta(minutes=LOCK_MINUTES)
            Cardholder.objects.filter(pk=holder.pk).update(kiosk_failures=0, kiosk_locked_until=until)
            audit_write(action="kiosk_locked", channel="kiosk", holder=holder, reason="5 wrong kiosk passwords",
                   until=until.isoformat())
        else:
            Cardholder.objects.filter(pk=holder.pk).update(kiosk_failures=failures)
        return None


def kiosk_cards(*, holder: Cardholder) -> list[Card]:
    """The holder's cards still in use or reported lost, newest first (replaced/closed ones are history)."""
    return list(
        Card.objects.filter(holder=holder, status__in=("active", "lost", "frozen", "expired"))
        .select_related("purse__account").order_by("-issued_on", "-id")
    )


def kiosk_balance(*, holder: Cardholder) -> int:
    """The holder's purse balance in fen (one purse for all their cards)."""
    return holder.purse.account.balance


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
