"""The frame handler: what the host does with one complete frame, whatever line it came on.

Both gateways call it; they keep only what belongs to their line (bytes, timeouts, resync, who
gets pushes). The order of checks is the codec's "Precedence" (``terminals.wire.frames``):

    terminal (NACK 3, zero MAC) → CRC (1) → MAC (2) → terminal or merchant not active (4)
    → TXN_BATCH: layout (6), signed in (8, the line stays up) → ingest.intake → BATCH_ACK
    → any other request: body (5 / 6) → host.handle_request → reply, or its NACK

A NACK for a bad frame has ``close`` set: TCP closes the connection, a serial line stays up.
NOT_SIGNED_IN never closes: the terminal signs in on the same line. A request the database
could not answer gets BUSY (9) and the terminal retries. Every reply is signed with the key that
verified the request. Batches the intake left for posting are in ``Outcome.post``; the gateway
enqueues them after the reply is on the wire, so an ACK never waits on the broker.

Steps, for a gateway that runs them itself (TCP, whose TXN_BATCHes wait for a group commit):
``terminal_info`` → ``check`` → ``batch_in`` / ``intake`` / ``batch_acked`` or ``serve_request``.
``serve`` is all of them in a row, for a synchronous line (serial). The Django work
(``terminal_info``, ``intake``, ``serve_request``, ``serve``) runs in the caller's worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection

from .. import host
from .. import wire as P
from ..ingest.intake import BatchIn, IntakeResult, batches_intake, intake_prepare

log = logging.getLogger("campuscard.gateway")


@dataclass
class TerminalInfo:
    terminal_id: int
    key: bytes
    status: str
    merchant_status: str | None  # of the merchant it is assigned to now, None when unassigned

    @property
    def active(self) -> bool:
        """A disabled or retired terminal, or one of a merchant not (or no longer) approved to take
        cards (pending, suspended, revoked), gets NACK 4."""
        return self.status == "active" and self.merchant_status in (None, "active")


# A connection used this recently is taken as alive without a ping (as HikariCP's
# aliveBypassWindowMs): a busy thread never pings, an idle one pings once before its next use.
ALIVE_BYPASS = 1.0
_used = threading.local()


def db_ready() -> None:
    """Before a gateway's database work on this thread: keep the thread's connection, ping it only
    when it has been idle, replace it when it is broken.

    Django's default per request would be a health check (CONN_HEALTH_CHECKS: a SELECT 1 round
    trip before every heartbeat, sign-in and PENDING_REQ) and a new connection every CONN_MAX_AGE
    seconds (the intake's staging tables and the server's catalog caches built again). Here the
    connection has no maximum age and is pinged only after ALIVE_BYPASS seconds unused;
    close_old_connections() still tests a connection that saw an error (Django marks it) and drops
    it if broken. So a database restart in a busy moment costs each busy thread one failed request
    (the terminal gets BUSY and resends), as the requests in flight then fail anyway."""
    close_old_connections()
    fresh = connection.connection is None
    connection.ensure_connection()
    connection.close_at = None  # no maximum age
    now = time.monotonic()
    if fresh or now - getattr(_used, "at", float("-inf")) < ALIVE_BYPASS:
        connection.health_check_done = True  # no ping before the next query
    _used.at = now


def terminal_info(terminal_id: int) -> TerminalInfo | None:
    """The terminal's key and status (None: unknown terminal)."""
    db_ready()
    with connection.cursor() as cur:
        cur.execute(
            """SELECT t.key, t.status, m.status FROM terminals_terminal t
               LEFT JOIN terminals_assignment a ON a.terminal_id = t.id AND a.valid_to IS NULL
               LEFT JOIN merchants_merchant m ON m.id = a.merchant_id
               WHERE t.id = %s""",
            [terminal_id],
        )
        row = cur.fetchone()
    if row is None:
        return None
    return TerminalInfo(terminal_id, bytes(row[0]), row[1], row[2])


@dataclass
class Outcome:
    """What a gateway does with one frame: write ``frames`` in order; then close the connection if
    ``close`` (TCP only); then enqueue batch_post for each batch id in ``post``."""

    frames: list[bytes] = field(default_factory=list)
    close: bool = False
    nack: int | None = None  # the NACK code sent, if any
    post: list[int] = field(default_factory=list)
    signed_in: bool = False  # a SIGN_IN was answered: on TCP this becomes the terminal's one connection


def nack(code: int, terminal_id: int, msg_seq: int, key: bytes | None, *, close: bool = True) -> Outcome:
    """A NACK answering (terminal_id, msg_seq); key None for NACK 3 (the zero MAC)."""
    return Outcome([P.encode_frame(P.MsgType.NACK, terminal_id, msg_seq, P.Nack_body(code), key)],
                   close=close, nack=int(code))


def check(raw: bytes, info: TerminalInfo | None) -> Outcome | None:
    """The frame checks after the header (which the line has parsed): unknown terminal, CRC, MAC,
    terminal status. The NACK to send, or None when the frame may be served."""
    terminal_id, msg_seq = P.header_ids(raw)
    if info is None:
        return nack(P.Nack.UNKNOWN_TERMINAL, terminal_id, msg_seq, None)
    if not P.check_crc(raw):
        return nack(P.Nack.BAD_CRC, terminal_id, msg_seq, info.key)
    if not P.check_mac(raw, info.key):
        return nack(P.Nack.BAD_MAC, terminal_id, msg_seq, info.key)
    if not info.active:
        return nack(P.Nack.DISABLED, terminal_id, msg_seq, info.key)
    return None


def txn_batch_body(body: bytes) -> int:
    """The batch_no of a TXN_BATCH body whose layout is right (count 1 … 500, 40 bytes each);
    the records themselves are checked by the intake, in SQL (an odd record is stored as an
    exception, never refused: it must not block the records behind it)."""
    if len(body) < 6:
        raise P.ProtocolError(P.Nack.MALFORMED, f"TXN_BATCH body of {len(body)} bytes")
    count = int.from_bytes(body[4:6], "big")
    if not 1 <= count <= P.MAX_RECORDS or len(body) != 6 + P.RECORD_LEN * count:
        raise P.ProtocolError(P.Nack.MALFORMED, f"TXN_BATCH of {count} records in {len(body)} bytes")
    return int.from_bytes(body[:4], "big")


def batch_in(session: host.Session, raw: bytes, key: bytes) -> BatchIn | Outcome:
    """A checked TXN_BATCH frame as the intake takes it (body undecoded), or the NACK: MALFORMED
    for a bad layout (closes), NOT_SIGNED_IN (keeps the line)."""
    _, terminal_id, msg_seq, body_len = P.parse_header(raw[:P.HEADER_LEN])
    body = raw[P.HEADER_LEN:P.HEADER_LEN + body_len]
    try:
        batch_no = txn_batch_body(body)
    except P.ProtocolError as exc:
        return nack(exc.code, terminal_id, msg_seq, key)
    if not session.signed_in:
        return nack(P.Nack.NOT_SIGNED_IN, terminal_id, msg_seq, key, close=False)
    return BatchIn(terminal_id, batch_no, msg_seq, bytes(raw), bytes(body))


def prepare() -> None:
    """Ready this thread's database connection for the intake (its staging tables)."""
    db_ready()
    intake_prepare()


def intake(items: list[BatchIn]) -> list[IntakeResult]:
    """Store batches of distinct terminals in one transaction (one item on a serial line, a group
    commit on TCP); returns each BATCH_ACK's figures once committed."""
    db_ready()  # a connection broken by a database restart is replaced
    return batches_intake(items, post=settings.INTAKE_POSTS)


def batch_acked(item: BatchIn, result: IntakeResult, key: bytes) -> Outcome:
    """The BATCH_ACK for a committed batch: now the terminal may forget these records."""
    ack = P.BatchAck(batch_no=item.batch_no, result=0, ack_upto=result.ack_upto, stored=result.stored,
                     duplicates=result.duplicates, exceptions=result.exceptions)
    return Outcome([P.encode_frame(P.MsgType.BATCH_ACK, item.terminal_id, item.msg_seq, ack.encode(), key)],
                   post=[result.batch_id] if result.to_post else [])


def serve_request(session: host.Session, raw: bytes, key: bytes) -> Outcome:
    """Any request but TXN_BATCH, on a checked frame: decode the body strictly and answer it."""
    msg_type, terminal_id, msg_seq, body_len = P.parse_header(raw[:P.HEADER_LEN])
    try:
        body = P.decode_body(msg_type, raw[P.HEADER_LEN:P.HEADER_LEN + body_len])
    except P.ProtocolError as exc:
        return nack(exc.code, terminal_id, msg_seq, key)
    try:
        db_ready()
        replies = host.handle_request(session, msg_type, msg_seq, body)
    except P.ProtocolError as exc:
        return nack(exc.code, terminal_id, msg_seq, key, close=exc.code != P.Nack.NOT_SIGNED_IN)
    except Exception:  # noqa: BLE001 - database down, …: the terminal retries later
        log.exception("terminal %s: request %#x failed", terminal_id, msg_type)
        return nack(P.Nack.BUSY, terminal_id, msg_seq, key)
    return Outcome([P.encode_frame(reply_type, terminal_id, msg_seq, reply.encode(), key)
                    for reply_type, reply in replies],
                   signed_in=msg_type == P.MsgType.SIGN_IN)


def serve(session_for, raw: bytes, info: TerminalInfo | None) -> Outcome:
    """The whole pipeline for one complete frame, synchronously (a serial line): ``check``, then
    the session of its terminal from ``session_for(terminal_id)``, then the batch through the
    intake or the request through the host."""
    bad = check(raw, info)
    if bad is not None:
        return bad
    session = session_for(info.terminal_id)
    session.key = info.key
    if raw[3] != P.MsgType.TXN_BATCH:
        return serve_request(session, raw, info.key)
    item = batch_in(session, raw, info.key)
    if isinstance(item, Outcome):
        return item
    try:
        result = intake([item])[0]
    except Exception:  # noqa: BLE001 - database down, …: the terminal resends later
        log.exception("terminal %s: batch %s failed", item.terminal_id, item.batch_no)
        return nack(P.Nack.BUSY, item.terminal_id, item.msg_seq, info.key)
    return batch_acked(item, result, info.key)
