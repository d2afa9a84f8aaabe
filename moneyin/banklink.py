"""The campus side of the bank link (银校通, 圈存转帐 of the formal card, M§11, R-CARD-5).

bank_transfer() records the request (committed first, so a host that dies mid-exchange leaves a
row the sweeper reverses), sends 0200 to the bank's front processor and waits BANK_TIMEOUT for
0210. Approved, the amount is credited once: bank clearing → the holder's purse as pending
credit (过渡余额) that a top-up terminal writes to the card; the journal's source ``bank-in:<rrn>``
is unique, so nothing is credited twice. No answer in time: the transfer is reversed (0400) until
the bank acknowledges (0410); an answer that comes after that, or a second copy of one, is
counted and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import BusinessError
from accounts.models import Cardholder, CardStatus, CardType, Journal, LedgerAccount
from accounts.services import audit_write, permission_require, purse_credit_pending, system_account
from accounts.timeutil import BUSINESS_TZ

from . import iso
from .models import BankTransfer

log = logging.getLogger(__name__)
S = BankTransfer.Status


def _front() -> tuple[str, int]:
    host, _sep, port = settings.BANK_FRONT.rpartition(":")
    return host, int(port)


def _amount(amount) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise BusinessError(_("The amount must be a whole number of fen."))
    if amount <= 0:
        raise BusinessError(_("The amount must be greater than zero."))
    if amount > settings.BANK_TRANSFER_MAX_FEN:
        limit = settings.BANK_TRANSFER_MAX_FEN
        raise BusinessError(_("A bank transfer is at most %(limit)s yuan.") % {"limit": f"{limit // 100}.{limit % 100:02d}"})
    return amount


def _request_doc(t: BankTransfer) -> dict:
    local = timezone.localtime(t.created_at, BUSINESS_TZ)
    card = t.holder.cards.filter(card_type=CardType.FORMAL, status=CardStatus.ACTIVE).first()
    return {
        "t": iso.TRANSFER_REQUEST, "2": t.bank_card_no, "3": iso.PROCESSING_TRANSFER, "4": f"{t.amount:012d}",
        "7": t.transmitted, "11": t.stan, "12": local.strftime("%H%M%S"), "13": local.strftime("%m%d"),
        "32": settings.BANK_ACQUIRER, "37": t.rrn, "41": t.terminal_id.ljust(8)[:8],
        "42": settings.BANK_MERCHANT.ljust(15)[:15], "49": iso.CURRENCY_CNY, "102": t.holder.number,
        "103": str(card.card_no) if card else "",
    }


def _reversal_doc(t: BankTransfer) -> dict:
    doc = _request_doc(t)
    doc["t"] = iso.REVERSAL_REQUEST
    doc["90"] = iso.original_data(mti=iso.TRANSFER_REQUEST, stan=t.stan, transmitted=t.transmitted,
                                  acquirer=settings.BANK_ACQUIRER)
    for f in ("12", "13", "102", "103"):
        doc.pop(f, None)
    return doc


@transaction.atomic
def _transfer_create(*, holder: Cardholder, amount: int, channel: str, terminal_id: str, actor,
                     bank_card_no: str) -> BankTransfer:
    holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
    if holder.status != Cardholder.Status.ACTIVE:
        raise BusinessError(_("%(holder)s has a closed account.") % {"holder": holder})
    # M§11, R-CARD-5: 圈存转帐 is a function of the formal card.
    if not holder.cards.filter(card_type=CardType.FORMAL, status=CardStatus.ACTIVE).exists():
        raise BusinessError(_("Bank transfers are for holders of an active formal card."))
    bank_card_no = (bank_card_no or holder.bank_card_no or "").strip()
    if not (bank_card_no.isascii() and bank_card_no.isdigit() and 12 <= len(bank_card_no) <= 19):
        raise BusinessError(_("The holder has no valid bank card number on file."))
    with connection.cursor() as cur:
        cur.execute("SELECT nextval('moneyin_bank_seq')")
        seq = cur.fetchone()[0]
    now = timezone.now()
    t = BankTransfer.objects.create(
        # RRN unique for good; the STAN cycles through six digits, never 000000.
        rrn=f"{seq % 10**12:012d}", stan=f"{seq % 999999 + 1:06d}", transmitted=now.strftime("%m%d%H%M%S"),
        holder=holder, purse=holder.purse, bank_card_no=bank_card_no, amount=amount, channel=channel,
        terminal_id=(terminal_id or "HOST0001")[:8], actor=actor,
    )
    audit_write(action="bank_transfer_send", actor=actor, channel="staff" if actor else "system", holder=holder,
                rrn=t.rrn, stan=t.stan, amount=amount)
    return t


def bank_transfer(*, holder: Cardholder, amount, channel: str = BankTransfer.Channel.TERMINAL,
                  terminal_id: str = "", actor=None, bank_card_no: str = "") -> BankTransfer:
    """Move `amount` fen from the holder's bank card to their campus account through the bank.
    Returns the transfer as it ended: approved (credited), declined, reversed or reversing.
    Call it outside a transaction: the request row must be committed before the 0200 leaves, or
    a host that stops mid-exchange leaves nothing for the sweeper to reverse."""
    if channel not in BankTransfer.Channel.values:
        raise BusinessError(_("Unknown channel."))
    if channel == BankTransfer.Channel.STAFF:
        permission_require(actor, "moneyin.bank_transfer")
    amount = _amount(amount)
    t = _transfer_create(holder=holder, amount=amount, channel=channel, terminal_id=terminal_id, actor=actor,
                         bank_card_no=bank_card_no)
    _exchange(t)
    t.refresh_from_db()
    return t


def _exchange(t: BankTransfer) -> None:
    timeout = settings.BANK_TIMEOUT
    try:
        sock = socket.create_connection(_front(), timeout=timeout)
    except OSError:
        # Not connected, nothing sent: the bank cannot have debited anything. Still reversed, so
        # the bank's book and ours agree whatever happened on the wire.
        _mark_reversing(t)
        bank_reversal_send(transfer=t)
        return
    with sock:
        reader = iso.FrameReader(sock)
        try:
            iso.send(sock, _request_doc(t))
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                doc = iso.decode(reader.read())
                outcome = bank_answer_apply(doc=doc)
                if doc.get("37") == t.rrn and outcome in ("approved", "declined"):
                    # A second copy already here (a duplicate) is applied too: it changes nothing.
                    while reader.buffered():
                        bank_answer_apply(doc=iso.decode(reader.read()))
                    return
        except (TimeoutError, OSError, EOFError, iso.FrameError):
            pass
        _mark_reversing(t)
        bank_reversal_send(transfer=t, sock=sock, reader=reader)


def _mark_reversing(t: BankTransfer) -> bool:
    n = BankTransfer.objects.filter(pk=t.pk, status=S.SENT).update(status=S.REVERSING)
    if n:
        audit_write(action="bank_transfer_timeout", channel="system", holder=t.holder, rrn=t.rrn, amount=t.amount)
    return bool(n)


@transaction.atomic
def bank_answer_apply(*, doc: dict) -> str:
    """Apply one 0210 from the bank. Only a transfer still waiting takes it: approved, it is
    credited (once: the journal's source is the RRN); after a time-out or a first answer, a late or
    duplicate answer is counted and ignored."""
    if doc.get("t") != iso.TRANSFER_ANSWER:
        return "not an answer"
    t = BankTransfer.objects.select_for_update().select_related("holder", "purse").filter(rrn=doc.get("37", "")).first()
    if t is None or t.stan != doc.get("11") or doc.get("4") != f"{t.amount:012d}":
        log.warning("bank answer for no transfer of ours: %s", {k: doc.get(k) for k in ("11", "37", "4", "39")})
        return "unknown"
    if t.status != S.SENT:
        t.ignored_answers += 1
        t.save(update_fields=["ignored_answers"])
        audit_write(action="bank_answer_ignored", channel="system", holder=t.holder, rrn=t.rrn,
                    status=t.status, code=doc.get("39", ""))
        return "ignored"
    code = doc.get("39", "")
    t.response_code, t.answered_at = code[:2], timezone.now()
    if code == iso.APPROVED:
        t.journal = purse_credit_pending(
            purse=t.purse, amount=t.amount, kind=Journal.Kind.BANK_IN, source=f"bank-in:{t.rrn}",
            from_account=system_account(LedgerAccount.Kind.BANK), actor=t.actor,
            reason=f"银行圈存转帐 RRN {t.rrn}",
        )
        t.auth_code = doc.get("38", "")[:6]
        t.status = S.APPROVED
    else:
        t.status = S.DECLINED
    t.save(update_fields=["response_code", "answered_at", "journal", "auth_code", "status"])
    audit_write(action="bank_transfer_answer", channel="system", holder=t.holder, journal=t.journal, rrn=t.rrn,
                code=code, amount=t.amount)
    return t.status


def bank_reversal_send(*, transfer: BankTransfer, sock: socket.socket | None = None,
                       reader: iso.FrameReader | None = None) -> bool:
    """Send the reversal (0400) up to BANK_REVERSAL_TRIES times until the bank acknowledges it
    (0410). Unacknowledged, the transfer stays `reversing` and the sweeper sends it again."""
    t = BankTransfer.objects.select_related("holder").get(pk=transfer.pk)
    if t.status != S.REVERSING:
        return t.status == S.REVERSED
    timeout = settings.BANK_TIMEOUT
    for _try in range(settings.BANK_REVERSAL_TRIES):
        BankTransfer.objects.filter(pk=t.pk).update(reversal_tries=F("reversal_tries") + 1)
        try:
            if sock is None:
                sock = socket.create_connection(_front(), timeout=timeout)
                reader = iso.FrameReader(sock)
            iso.send(sock, _reversal_doc(t))
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                doc = iso.decode(reader.read())
                if doc.get("t") == iso.TRANSFER_ANSWER:
                    bank_answer_apply(doc=doc)  # late: ignored, the transfer is reversing
                elif doc.get("t") == iso.REVERSAL_ANSWER and doc.get("37") == t.rrn:
                    _reversed(t, doc)
                    return True
        except (TimeoutError, OSError, EOFError, iso.FrameError):
            # Try again on a fresh connection: the old one may carry the lost answer's fate.
            if sock is not None:
                sock.close()
            sock = reader = None
    return False


def _reversed(t: BankTransfer, doc: dict) -> None:
    with transaction.atomic():
        n = BankTransfer.objects.filter(pk=t.pk, status=S.REVERSING).update(
            status=S.REVERSED, reversed_at=timezone.now(), response_code=doc.get("39", "")[:2])
        if n:
            audit_write(action="bank_transfer_reversed", channel="system", holder=t.holder, rrn=t.rrn,
                        amount=t.amount)


def bank_reversals_retry(*, older_than: float | None = None) -> int:
    """The sweeper: reverse transfers left waiting by a host that stopped mid-exchange, and send
    again the reversals the bank has not acknowledged. Returns how many were acknowledged."""
    older_than = older_than if older_than is not None else 3 * settings.BANK_TIMEOUT
    cutoff = timezone.now() - dt.timedelta(seconds=older_than)
    for t in BankTransfer.objects.filter(status=S.SENT, created_at__lt=cutoff).select_related("holder"):
        _mark_reversing(t)
    done = 0
    for t in BankTransfer.objects.filter(status=S.REVERSING).order_by("pk"):
        done += bank_reversal_send(transfer=t)
    return done
