"""What the host answers to each request, whatever the line (TCP or serial).

Everything here is synchronous Django code; the gateways run it in worker threads. Frame-level
checks (length, CRC, MAC, known terminal) and TXN_BATCH (stored by ``terminals.ingest.intake``)
are the frame handler's (``terminals.gateways.handler``), which calls ``handle_request`` for the
other requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from accounts.selectors import blocklist_version
from merchants.models import MerchantKind

from . import wire
from .ingest.intake import records_lost
from .models import Terminal
from .selectors import pending_lookup, terminal_params

P = wire


@dataclass
class Session:
    """One terminal's state on one connection."""

    terminal_id: int
    signed_in: bool = False
    blocklist_version: int = 0  # the version the terminal last said it holds
    key: bytes | None = None  # the key that verified its latest frame; replies and pushes are signed with it


# A SIGN_IN or HEARTBEAT in one round trip (5,000 terminals heartbeat every 30 s): read the host's
# block-list version, record what the terminal says (its version never above the host's, the time
# only when it changes) and read back what the reply needs: ack_upto, the parameters' version, the
# offline period and the first stored number above ack_upto (recollect).
_STATUS_SQL = """
WITH h AS (SELECT COALESCE(MAX(version), 0) AS version FROM accounts_blocklistentry),
t AS (
    UPDATE terminals_terminal SET firmware_version = %(fw)s, params_version = %(pv)s, last_seq = %(last)s,
        unsent = %(unsent)s, last_seen_at = %(now)s, blocklist_version = LEAST(%(bv)s, h.version),
        blocklist_version_at = CASE WHEN blocklist_version = LEAST(%(bv)s, h.version) THEN blocklist_version_at
                                    ELSE %(now)s END
    FROM h WHERE id = %(tid)s
    RETURNING id, ack_upto, params_rev, last_seq, h.version)
SELECT t.version, t.ack_upto,
    t.params_rev + (SELECT COUNT(*) FROM terminals_surchargerate WHERE effective_from <= %(now)s),
    (SELECT MAX(valid_to) FROM terminals_offlineauthorisation
     WHERE terminal_id = t.id AND valid_from <= %(now)s AND valid_to > %(now)s),
    LEAST((SELECT MIN(term_seq) FROM terminals_record WHERE terminal_id = t.id AND term_seq > t.ack_upto),
          (SELECT MIN(from_seq) FROM terminals_lostrange WHERE terminal_id = t.id AND to_seq > t.ack_upto))
FROM t"""


def status_reply(tid: int, body, reply_type: int):
    """The reply to a SIGN_IN or HEARTBEAT (``body``), having recorded what the terminal says."""
    now = timezone.now()
    with connection.cursor() as cur:
        cur.execute(_STATUS_SQL, {"fw": body.firmware_version, "pv": body.params_version, "last": body.last_seq,
                                  "unsent": body.unsent, "now": now, "tid": tid, "bv": body.blocklist_version})
        host_version, ack, params_v, offline_to, next_stored = cur.fetchone()
    if next_stored is not None and next_stored <= ack + 1:
        next_stored = None  # cannot happen while ack_upto is kept in the intake's transaction; never fail a sign-in
    rfrom, rto = P.recollect_range(ack, next_stored, body.last_seq)
    return reply_type, P.SignInReply(
        result=0, server_time=int(now.timestamp()), blocklist_version=host_version, params_version=params_v,
        ack_upto=ack, offline_until=int(offline_to.timestamp()) if offline_to else 0,
        recollect_from=rfrom, recollect_to=rto,
    )


def handle_request(session: Session, msg_type: int, msg_seq: int, body) -> list[tuple[int, object]]:
    """Answer one decoded, authenticated request other than TXN_BATCH (the frame handler sends
    those to the intake). Returns [(reply type, reply body)]. Raises wire.ProtocolError for a NACK."""
    tid = session.terminal_id
    if msg_type != P.MsgType.SIGN_IN and not session.signed_in:
        raise P.ProtocolError(P.Nack.NOT_SIGNED_IN)
    if msg_type in (P.MsgType.SIGN_IN, P.MsgType.HEARTBEAT):
        reply = status_reply(tid, body, msg_type | 0x80)
        session.signed_in = True
        session.blocklist_version = body.blocklist_version
        return [reply]
    if msg_type == P.MsgType.RECORDS_LOST:
        ack = records_lost(terminal_id=tid, from_seq=body.from_seq, to_seq=body.to_seq)
        return [(P.MsgType.RECORDS_LOST_REPLY, P.RecordsLostReply(result=0, ack_upto=ack))]
    if msg_type == P.MsgType.BLOCKLIST_REQ:
        return [(P.MsgType.BLOCKLIST_DELTA, blocklist_delta(body.have_version, body.max_entries))]
    if msg_type == P.MsgType.BLOCKLIST_APPLIED:
        version = min(body.version, blocklist_version())  # the terminal's word, never ahead of the host
        _blocklist_reported(tid, version, timezone.now())
        session.blocklist_version = body.version
        return [(P.MsgType.BLOCKLIST_APPLIED_REPLY, P.BlocklistAppliedReply(result=0))]
    if msg_type == P.MsgType.PARAMS_REQ:
        params = terminal_params(Terminal.objects.get(pk=tid))
        return [(P.MsgType.PARAMS, P.Params(**params.__dict__))]
    if msg_type == P.MsgType.PENDING_REQ:
        return [(P.MsgType.PENDING, pending_for(tid, body.card_no))]
    raise P.ProtocolError(P.Nack.UNSUPPORTED)


def _blocklist_reported(terminal_id: int, version: int, now) -> None:
    """Record the version a terminal says it holds; the time changes only with the version, so
    staff see how long a lagging terminal has been behind."""
    Terminal.objects.filter(pk=terminal_id).exclude(blocklist_version=version).update(
        blocklist_version=version, blocklist_version_at=now)


def pending_for(terminal_id: int, card_no: int):
    """0x40: pending credit of a card, for top-up terminals only. One statement in the usual
    case; the ORM only when open subsidies are to be claimed."""
    found = pending_lookup(terminal_id=terminal_id, card_no=card_no)
    if found.merchant_kind != MerchantKind.TOPUP:
        return P.Pending(card_no=card_no, result=5, pending=0)
    if found.card_status is None:
        return P.Pending(card_no=card_no, result=6, pending=0)
    if found.card_status != "active":
        return P.Pending(card_no=card_no, result=4, pending=0)
    if not found.subsidies_open:
        return P.Pending(card_no=card_no, result=0, pending=max(0, found.pending))
    from accounts.selectors import card_get
    from accounts.subsidies import subsidies_claim

    card = card_get(card_no=card_no)
    subsidies_claim(card=card, merchant_kind=found.merchant_kind, terminal_id=terminal_id)  # open subsidies become pending credit
    return P.Pending(card_no=card_no, result=0, pending=max(0, card.purse.pending))


def blocklist_delta(have_version: int, max_entries: int):
    """A page of the block list after have_version (0xA0), or the whole list (full = 1) when the
    terminal holds nothing or a version the host never issued (a restore from backup).

    Each card comes once, with its latest entry in the range, so a delta is never longer than the
    list itself however far behind the terminal is. Pages are ordered by that entry's version and
    cut after a card, so ``to_version`` is a version boundary and the next request (have_version =
    to_version) brings exactly the cards whose latest change is newer. The full list leaves out
    cards whose latest entry is an unblock: they have nothing to replace."""
    limit = min(max_entries or P.MAX_DELTA_ENTRIES, P.MAX_DELTA_ENTRIES)
    current = blocklist_version()
    full = have_version == 0 or have_version > current
    since = 0 if full else have_version
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT version, card_no, op FROM (
                   SELECT DISTINCT ON (card_no) version, card_no, op FROM accounts_blocklistentry
                   WHERE version > %s AND version <= %s ORDER BY card_no, version DESC) latest
               {"WHERE op = 1" if full else ""} ORDER BY version LIMIT %s""",
            [since, current, limit + 1],
        )
        rows = cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    to_version = rows[-1][0] if more else current
    return P.BlocklistDelta(from_version=have_version, to_version=to_version, full=int(full), more=int(more),
                            entries=[(n, op) for _, n, op in rows])
