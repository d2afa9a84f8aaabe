"""The POS terminal ↔ host wire protocol, version 1: frames, CRC, MAC, every body, serial resync.

The contract is ``POS-PROTOCOL.md`` (shared with the terminal vendors); this module implements
it byte for byte and nothing else. It imports no Django, so the gateways, the simulator, the
test client and the tests all use the same code. Standard library only.

Frame layout (all integers unsigned, big-endian)::

    offset  size  field
    0       2     magic b"CC"
    2       1     version = 1
    3       1     type (MsgType)
    4       4     terminal_id
    8       4     msg_seq
    12      2     body_len (n), at most 65000
    14      n     body
    14+n    8     mac = HMAC-SHA256(terminal key, bytes 2 … 13+n)[:8]; eight zero bytes in a NACK 3
    22+n    2     crc = CRC-16/CCITT-FALSE over bytes 2 … 21+n (the MAC included)

Sending::

    frame = encode_frame(MsgType.HEARTBEAT, terminal_id, msg_seq, Heartbeat(...).encode(), key)

Receiving on TCP (a gateway)::

    header = read(HEADER_LEN)
    terminal_id, msg_seq = header_ids(header)          # fixed offsets, whatever else is wrong
    key = lookup(terminal_id)                          # None → NACK 3 (zero MAC), close
    msg_type, _, _, body_len = parse_header(header)    # ProtocolError 6 / 5 / 7, before the body
    raw = header + read(body_len + TRAILER_LEN)
    check_crc(raw) or NACK 1;  check_mac(raw, key) or NACK 2
    body = decode_body(msg_type, raw[HEADER_LEN:HEADER_LEN + body_len])   # ProtocolError 5 / 6

or, with a complete frame in hand, ``verify_frame(raw, key_lookup)``, which applies the same
order and raises ProtocolError carrying the NACK code, terminal_id and msg_seq.

Receiving on a serial line: ``StreamDecoder().feed(data)`` returns the frames whose length and
CRC are good (as ``RawFrame``, a bytes subclass); bad ones are dropped one byte at a time until
the next magic. The caller then looks up the terminal and checks the MAC.

A terminal or test client reading host frames uses ``verify_host_frame(raw, key)``: the same
checks, and it accepts the zero MAC of a NACK 3.

Precedence
----------
The contract says both "a receiver checks length, CRC, then MAC" and "a frame from an unknown
terminal gets NACK 3 and the connection is closed, whatever else is wrong with it". This module
(and ``verify_frame``) reads them together as follows, first failing check wins:

1. Fewer than 14 bytes: nothing can be answered (a TCP gateway simply waits or times out).
2. Unknown terminal_id (read from offset 4 whatever else is wrong) → NACK 3, zero MAC. This comes
   before magic, version, length, CRC and MAC, as "whatever else is wrong" demands: a host that
   answered NACK 1 or 2 to an unknown id would be claiming a key it does not have.
3. Header, from the 14 bytes alone, before the body is read: bad magic → NACK 6 (malformed),
   version ≠ 1 → NACK 5 (unsupported), body_len > 65000 → NACK 7 (too large).
4. Length: the frame must be exactly 24 + body_len bytes (a short read is a closed or timed-out
   connection; ``verify_frame`` reports a wrong length as NACK 6).
5. CRC → NACK 1.  6. MAC → NACK 2.
7. (Caller) terminal disabled or retired → NACK 4, only after the MAC proved the sender.
8. Body: unknown type → NACK 5; wrong length or invalid value → NACK 6 (``decode_body``).

On a serial line the CRC is also the framing: a frame with a bad CRC, magic, version or length
is not a frame at all, so ``StreamDecoder`` drops it silently (no NACK, as the contract says for
CRC) before anyone looks at its terminal_id. An unknown terminal is therefore answered with
NACK 3 on serial only when its frame's CRC is good. (On TCP, rule 2 applies.)

Strictness: every "reserved, 0" field, record flags bits 2–7, and every enumerated value
(card_type 1…3, kind 1…2, merchant_kind 1…4, full/more/op 0…1, a reply's result 0, PENDING's
result 0/4/5/6, NACK code 1…9) are checked by ``decode`` and give ProtocolError(MALFORMED).
``decode(..., strict=False)`` checks lengths and counts only, for a host that prefers to store
an odd record as an exception (see ``record_field_problems``) rather than refuse the batch.
Encoding validates the same way unless ``encode(validate=False)`` (for test clients that want
to send a deliberately bad body).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import operator
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from enum import IntEnum, IntFlag
from typing import Any, ClassVar, NamedTuple

__all__ = [
    "MAGIC", "VERSION", "HEADER_LEN", "TRAILER_LEN", "MAC_LEN", "CRC_LEN", "MAX_BODY", "MAX_FRAME",
    "MAX_RECORDS", "RECORD_LEN", "MAX_DELTA_ENTRIES", "ZERO_MAC",
    "MsgType", "Nack", "NackCode", "RecordKind", "RecordFlag", "FLAG_OFFLINE", "FLAG_WRITE_UNCERTAIN", "FLAGS_KNOWN",
    "CardType", "MerchantKind", "BlocklistOp", "PendingResult",
    "ProtocolError", "crc16_ccitt_false", "crc16_ccitt_false_table", "mac",
    "Frame", "RawFrame", "encode_frame", "nack_frame", "header_ids", "parse_header", "frame_length",
    "check_crc", "check_mac", "decode_frame", "verify_frame", "verify_host_frame",
    "Skipped", "StreamDecoder",
    "SignIn", "Heartbeat", "SignInReply", "HeartbeatReply", "Record", "TxnBatch", "BatchAck",
    "RecordsLost", "RecordsLostReply", "BlocklistReq", "BlocklistEntry", "BlocklistDelta", "BlocklistApplied",
    "BlocklistAppliedReply", "ParamsReq", "Params", "PendingReq", "Pending", "NackBody", "Nack_body", "Nack_decode",
    "REQUEST_BODIES", "REPLY_BODIES", "BODY_CLASSES", "REPLY_TYPE", "reply_type", "is_request", "decode_body",
    "record_arithmetic_ok", "record_field_problems", "surcharge_expected", "recollect_range",
]

# --- constants ------------------------------------------------------------------------------

MAGIC = b"CC"
VERSION = 1
HEADER_LEN = 14  # magic 2, version 1, type 1, terminal_id 4, msg_seq 4, body_len 2
MAC_LEN = 8
CRC_LEN = 2
TRAILER_LEN = MAC_LEN + CRC_LEN  # 10
MAX_BODY = 65000
MAX_FRAME = HEADER_LEN + MAX_BODY + TRAILER_LEN  # 65024
ZERO_MAC = bytes(MAC_LEN)
RECORD_LEN = 40
MAX_RECORDS = 500  # records in one TXN_BATCH
MAX_DELTA_ENTRIES = (MAX_BODY - 20) // 5  # 12996 block-list entries fit in one 0xA0 body

_U8, _U32 = 0xFF, 0xFFFF_FFFF
_HEADER = struct.Struct(">2sBBIIH")


class MsgType(IntEnum):
    """Message types. Requests (terminal → host) are below 0x80; a reply is request | 0x80.
    NACK (0x7F) is a host frame despite its value."""

    SIGN_IN = 0x01
    HEARTBEAT = 0x02
    TXN_BATCH = 0x10
    RECORDS_LOST = 0x11
    BLOCKLIST_REQ = 0x20
    BLOCKLIST_APPLIED = 0x21
    PARAMS_REQ = 0x30
    PENDING_REQ = 0x40
    SIGN_IN_REPLY = 0x81
    HEARTBEAT_REPLY = 0x82
    BATCH_ACK = 0x90
    RECORDS_LOST_REPLY = 0x91
    BLOCKLIST_DELTA = 0xA0  # reply to BLOCKLIST_REQ, and the unsolicited push (msg_seq 0)
    BLOCKLIST_APPLIED_REPLY = 0xA1
    PARAMS = 0xB0
    PENDING = 0xC0
    NACK = 0x7F


class Nack(IntEnum):
    """NACK codes (body of a 0x7F frame), with what the terminal does."""

    BAD_CRC = 1  # resend
    BAD_MAC = 2  # stop, alarm
    UNKNOWN_TERMINAL = 3  # stop, alarm; the frame's MAC is eight zero bytes
    DISABLED = 4  # terminal disabled or retired: stop
    UNSUPPORTED = 5  # unsupported version or type: stop
    MALFORMED = 6  # malformed body: stop, alarm
    TOO_LARGE = 7  # split and resend
    NOT_SIGNED_IN = 8  # sign in
    BUSY = 9  # host busy or internal error: resend later, with back-off


NackCode = Nack


class RecordKind(IntEnum):
    PURCHASE = 1
    DEPOSIT = 2  # cash (operator_no = cashier) or pending credit written to the card (operator_no = 0)


class RecordFlag(IntFlag):
    OFFLINE = 0x01  # made while the host was unreachable
    WRITE_UNCERTAIN = 0x02  # the card left the field during the write


FLAG_OFFLINE = int(RecordFlag.OFFLINE)
FLAG_WRITE_UNCERTAIN = int(RecordFlag.WRITE_UNCERTAIN)
FLAGS_KNOWN = FLAG_OFFLINE | FLAG_WRITE_UNCERTAIN  # bits 2–7 must be zero


class CardType(IntEnum):
    FORMAL = 1
    ORDINARY = 2
    CONSUMPTION = 3


class MerchantKind(IntEnum):
    DINING = 1
    WATER = 2  # water control (showers)
    RETAIL = 3  # retail / other
    TOPUP = 4  # top-up point


class BlocklistOp(IntEnum):
    UNBLOCK = 0
    BLOCK = 1


class PendingResult(IntEnum):
    OK = 0
    CARD_BLOCKED = 4
    NOT_TOPUP = 5  # only top-up terminals may ask
    UNKNOWN_CARD = 6


class ProtocolError(Exception):
    """A frame or body the receiver refuses; ``code`` is the NACK code to answer with.

    ``terminal_id`` and ``msg_seq`` are set when they could be read from the offending frame
    (a NACK names them), ``detail`` goes into the NACK's detail byte."""

    def __init__(self, code: int, message: str = "", *, detail: int = 0, terminal_id: int | None = None,
                 msg_seq: int | None = None):
        self.code = Nack(code)
        self.message = message
        self.detail = detail & _U8
        self.terminal_id = terminal_id
        self.msg_seq = msg_seq
        super().__init__(f"NACK {self.code.value} {self.code.name}" + (f": {message}" if message else ""))


def _malformed(message: str) -> ProtocolError:
    return ProtocolError(Nack.MALFORMED, message)


# --- CRC and MAC ----------------------------------------------------------------------------


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc16_ccitt_false_table(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE with a 256-entry table in pure Python: the reference implementation,
    for readers porting it to a terminal. ``crc16_ccitt_false`` gives the same result faster."""
    table = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ b]
    return crc


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0.
    Check value: crc16_ccitt_false(b"123456789") == 0x29B1.

    Computed by the standard library's table-driven C routine (binascii.crc_hqx, the same
    polynomial, unreflected, with the initial value given): about 100 times faster than the
    pure-Python table, which matters when a serial decoder must test many candidate frames."""
    return binascii.crc_hqx(data, 0xFFFF)


def mac(key: bytes, data: bytes) -> bytes:
    """The frame MAC: the first 8 bytes of HMAC-SHA256(key, data)."""
    return hmac.new(key, data, hashlib.sha256).digest()[:MAC_LEN]


# --- frames ---------------------------------------------------------------------------------


def _as_type(value: int) -> MsgType | int:
    try:
        return MsgType(value)
    except ValueError:
        return value


def _body_bytes(body: Any) -> bytes:
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str) or not hasattr(body, "encode"):
        raise TypeError(f"a body must be bytes or a body object, not {type(body).__name__}")
    return body.encode()


def encode_frame(msg_type: int, terminal_id: int, msg_seq: int, body: Any, key: bytes | None) -> bytes:
    """One complete frame. ``body`` is bytes or a body object (its ``encode()`` is used).

    ``key`` is the terminal's key; ``None`` writes the eight zero bytes of a NACK 3 (unknown
    terminal) and is refused for any other frame. Raises ValueError for a field out of range
    or a body over 65000 bytes."""
    payload = _body_bytes(body)
    if not 0 <= msg_type <= _U8:
        raise ValueError(f"type {msg_type} out of range")
    if not 0 <= terminal_id <= _U32 or not 0 <= msg_seq <= _U32:
        raise ValueError("terminal_id and msg_seq are u32")
    if len(payload) > MAX_BODY:
        raise ValueError(f"body of {len(payload)} bytes exceeds {MAX_BODY}")
    signed = _HEADER.pack(MAGIC, VERSION, msg_type, terminal_id, msg_seq, len(payload))[2:] + payload
    if key is None:
        if msg_type != MsgType.NACK or payload[:1] != bytes([Nack.UNKNOWN_TERMINAL]):
            raise ValueError("only a NACK 3 (unknown terminal) goes without a key")
        tag = ZERO_MAC
    else:
        tag = mac(key, signed)
    signed += tag
    return MAGIC + signed + crc16_ccitt_false(signed).to_bytes(2, "big")


def nack_frame(code: int, terminal_id: int, msg_seq: int, key: bytes | None, detail: int = 0) -> bytes:
    """A NACK frame answering a frame from terminal_id with msg_seq. A NACK 3 always carries the
    zero MAC (``key`` is ignored); any other code needs the terminal's key."""
    code = Nack(code)
    return encode_frame(MsgType.NACK, terminal_id, msg_seq, NackBody(code=code, detail=detail).encode(),
                        None if code == Nack.UNKNOWN_TERMINAL else key)


@dataclass
class Frame:
    """A frame's fields; ``body`` is the raw body bytes (see ``decode_body``)."""

    type: int
    terminal_id: int
    msg_seq: int
    body: bytes

    def encode(self, key: bytes | None) -> bytes:
        return encode_frame(self.type, self.terminal_id, self.msg_seq, self.body, key)

    def decode_body(self, *, strict: bool = True):
        return decode_body(self.type, self.body, strict=strict)


def header_ids(header: bytes) -> tuple[int, int]:
    """(terminal_id, msg_seq) from their fixed offsets, whatever else is wrong with the header
    (so that any NACK can name them). Needs at least 12 bytes."""
    if len(header) < 12:
        raise _malformed("header shorter than 12 bytes")
    return int.from_bytes(header[4:8], "big"), int.from_bytes(header[8:12], "big")


def parse_header(header: bytes) -> tuple[MsgType | int, int, int, int]:
    """Check the 14-byte header and return (type, terminal_id, msg_seq, body_len).

    Only the first 14 bytes are looked at. Raises ProtocolError, with terminal_id and msg_seq
    set: bad magic → MALFORMED (6), version ≠ 1 → UNSUPPORTED (5), body_len > 65000 →
    TOO_LARGE (7) — from the header alone, so the body need not (and must not) be read first.
    The type is not checked here (``decode_body`` refuses an unknown one with 5); it is
    returned as a MsgType when known, else as the plain int."""
    if len(header) < HEADER_LEN:
        raise _malformed(f"header of {len(header)} bytes")
    magic, version, msg_type, terminal_id, msg_seq, body_len = _HEADER.unpack_from(header)
    ids = {"terminal_id": terminal_id, "msg_seq": msg_seq}
    if magic != MAGIC:
        raise ProtocolError(Nack.MALFORMED, "bad magic", **ids)
    if version != VERSION:
        raise ProtocolError(Nack.UNSUPPORTED, f"version {version}", detail=version, **ids)
    if body_len > MAX_BODY:
        raise ProtocolError(Nack.TOO_LARGE, f"body_len {body_len}", **ids)
    return _as_type(msg_type), terminal_id, msg_seq, body_len


def frame_length(header: bytes) -> int:
    """The whole frame's length (24 + body_len) from a valid header; raises like parse_header."""
    return HEADER_LEN + parse_header(header)[3] + TRAILER_LEN


def _declared_body_len(raw: bytes) -> int | None:
    """body_len if raw is exactly one frame long according to its own header, else None."""
    if len(raw) < HEADER_LEN + TRAILER_LEN:
        return None
    n = int.from_bytes(raw[12:14], "big")
    return n if len(raw) == HEADER_LEN + n + TRAILER_LEN else None


def check_crc(raw: bytes) -> bool:
    """True when raw is exactly one frame long (24 + its body_len) and its CRC over bytes
    2 … 21+n matches. Magic, version and body_len limits are parse_header's business."""
    n = _declared_body_len(raw)
    if n is None:
        return False
    with memoryview(raw) as mv:
        return crc16_ccitt_false(mv[2:HEADER_LEN + n + MAC_LEN]) == int.from_bytes(mv[-CRC_LEN:], "big")


def check_mac(raw: bytes, key: bytes) -> bool:
    """True when raw is exactly one frame long and its MAC is HMAC-SHA256(key, bytes 2 … 13+n)[:8]
    (compared in constant time). A zero MAC is never accepted here; see verify_host_frame."""
    n = _declared_body_len(raw)
    if n is None:
        return False
    return hmac.compare_digest(mac(key, raw[2:HEADER_LEN + n]), raw[HEADER_LEN + n:HEADER_LEN + n + MAC_LEN])


def decode_frame(raw: bytes) -> Frame:
    """The fields of one complete frame, checking header and length only (not CRC or MAC)."""
    msg_type, terminal_id, msg_seq, n = parse_header(raw)
    if len(raw) != HEADER_LEN + n + TRAILER_LEN:
        raise ProtocolError(Nack.MALFORMED, f"frame of {len(raw)} bytes, body_len {n}", terminal_id=terminal_id,
                            msg_seq=msg_seq)
    return Frame(msg_type, terminal_id, msg_seq, bytes(raw[HEADER_LEN:HEADER_LEN + n]))


def verify_frame(raw: bytes, key_lookup: Callable[[int], bytes | None]) -> Frame:
    """All frame checks a host makes on one complete frame, in the order of the module's
    "Precedence" section; returns the Frame or raises ProtocolError (code, terminal_id, msg_seq).

    ``key_lookup(terminal_id)`` returns the terminal's key, or None for an unknown terminal
    (→ NACK 3, before anything else is looked at). Terminal status (NACK 4) and the body
    (``decode_body``) are the caller's next steps."""
    if len(raw) < HEADER_LEN:
        raise _malformed(f"frame of {len(raw)} bytes")
    terminal_id, msg_seq = header_ids(raw)
    ids = {"terminal_id": terminal_id, "msg_seq": msg_seq}
    key = key_lookup(terminal_id)
    if key is None:
        raise ProtocolError(Nack.UNKNOWN_TERMINAL, f"terminal {terminal_id}", **ids)
    frame = decode_frame(raw)
    if not check_crc(raw):
        raise ProtocolError(Nack.BAD_CRC, **ids)
    if not check_mac(raw, key):
        raise ProtocolError(Nack.BAD_MAC, **ids)
    return frame


def verify_host_frame(raw: bytes, key: bytes) -> Frame:
    """The terminal's side: header, length, CRC, then MAC under the terminal's own key. A NACK 3
    (unknown terminal) is accepted with the zero MAC, since the host has no key to sign it with
    (note that anyone can forge one). Raises ProtocolError."""
    frame = decode_frame(raw)
    ids = {"terminal_id": frame.terminal_id, "msg_seq": frame.msg_seq}
    if not check_crc(raw):
        raise ProtocolError(Nack.BAD_CRC, **ids)
    n = len(frame.body)
    if (frame.type == MsgType.NACK and frame.body[:1] == bytes([Nack.UNKNOWN_TERMINAL])
            and raw[HEADER_LEN + n:HEADER_LEN + n + MAC_LEN] == ZERO_MAC):
        return frame
    if not check_mac(raw, key):
        raise ProtocolError(Nack.BAD_MAC, **ids)
    return frame


class RawFrame(bytes):
    """A complete frame as received (the bytes themselves), whose magic, version, length and
    CRC are good; its MAC is not checked yet. Handy read-only views of the header fields."""

    __slots__ = ()

    @property
    def type(self) -> MsgType | int:
        return _as_type(self[3])

    @property
    def terminal_id(self) -> int:
        return int.from_bytes(self[4:8], "big")

    @property
    def msg_seq(self) -> int:
        return int.from_bytes(self[8:12], "big")

    @property
    def body_len(self) -> int:
        return int.from_bytes(self[12:14], "big")

    @property
    def body(self) -> bytes:
        return bytes(self[HEADER_LEN:HEADER_LEN + self.body_len])

    @property
    def mac(self) -> bytes:
        n = self.body_len
        return bytes(self[HEADER_LEN + n:HEADER_LEN + n + MAC_LEN])

    def to_frame(self) -> Frame:
        return Frame(self.type, self.terminal_id, self.msg_seq, self.body)


# --- serial stream decoder ------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """Bytes a StreamDecoder dropped: ``count`` bytes, for ``reasons`` (distinct, in order):
    "garbage" (no magic), "bad_version", "too_large", "bad_crc", "truncated" (see idle())."""

    count: int
    reasons: tuple[str, ...]


class StreamDecoder:
    """Finds frames in a byte stream (a serial line), with the contract's resynchronisation: a
    bad frame (bad CRC, magic, version, or a body_len over 65000) loses its first byte and the
    decoder hunts for the next magic. Nothing is answered for such a frame.

    ``feed(data)`` returns the complete frames with good CRC, as RawFrame (bytes), in order.
    The MAC is the caller's to check, with the key of the frame's terminal_id.
    ``feed_events(data)`` returns the same frames interleaved with Skipped events.

    Memory is bounded: input is taken in slices of CHUNK bytes and only one incomplete frame is
    ever kept, so the buffer never exceeds MAX_BUFFER = MAX_FRAME + CHUNK bytes; nothing is
    allocated from a length before that length has been checked against 65000.

    A spurious magic in noise can claim a body of up to 65000 bytes, and the decoder then waits
    for that many bytes before its CRC can be tested (real frames behind it are kept and found
    afterwards). Call ``idle()`` when the line has been quiet for longer than a frame takes:
    whatever is buffered and incomplete is then treated as bad, byte by byte, and any complete
    frame behind it is returned.

    ``stats`` counts frames, skipped bytes and each kind of bad frame.
    """

    CHUNK = 4096
    MAX_BUFFER = MAX_FRAME + CHUNK

    def __init__(self) -> None:
        self._buf = bytearray()
        self._run = 0  # bytes dropped since the last frame or event
        self._reasons: list[str] = []
        self.stats = {"frames": 0, "skipped_bytes": 0, "garbage": 0, "bad_version": 0, "too_large": 0,
                      "bad_crc": 0, "truncated": 0}

    @property
    def buffered(self) -> int:
        """Bytes held, waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[RawFrame]:
        """Take more bytes; return the frames completed by them (good CRC), in order."""
        return [e for e in self.feed_events(data) if isinstance(e, RawFrame)]

    def feed_events(self, data: bytes) -> list[RawFrame | Skipped]:
        """Like feed, with a Skipped event before each frame that followed dropped bytes and at
        the end when bytes were dropped."""
        out: list[RawFrame | Skipped] = []
        with memoryview(data) as mv:
            for i in range(0, len(mv), self.CHUNK):
                self._buf += mv[i:i + self.CHUNK]
                self._scan(out, final=False)
        self._flush_run(out)
        return out

    def idle(self) -> list[RawFrame | Skipped]:
        """The line has gone quiet: nothing more will complete what is buffered. Every
        incomplete candidate is dropped one byte at a time (reason "truncated"), complete frames
        found behind it are returned, and the buffer ends empty. Returns frames and events."""
        out: list[RawFrame | Skipped] = []
        self._scan(out, final=True)
        self._flush_run(out)
        return out

    def reset(self) -> None:
        """Forget anything buffered (e.g. after reopening the port)."""
        self._buf.clear()
        self._run, self._reasons = 0, []

    # internals

    def _skip(self, count: int, reason: str) -> None:
        self._run += count
        self.stats["skipped_bytes"] += count
        if reason == "garbage":
            self.stats["garbage"] += count
        else:
            self.stats[reason] += 1
        if reason not in self._reasons:
            self._reasons.append(reason)

    def _flush_run(self, out: list) -> None:
        if self._run:
            out.append(Skipped(self._run, tuple(self._reasons)))
            self._run, self._reasons = 0, []

    def _scan(self, out: list, *, final: bool) -> None:
        buf = self._buf
        end = len(buf)
        pos = 0
        while pos < end:
            i = buf.find(MAGIC, pos)
            if i < 0:
                # No magic: all garbage, except a last "C" that may begin one.
                keep = 1 if (not final and buf[end - 1] == MAGIC[0]) else 0
                if end - keep > pos:
                    self._skip(end - keep - pos, "garbage")
                pos = end - keep
                break
            if i > pos:
                self._skip(i - pos, "garbage")
                pos = i
            if end - pos < HEADER_LEN:
                if final:
                    self._skip(1, "truncated")
                    pos += 1
                    continue
                break
            if buf[pos + 2] != VERSION:
                self._skip(1, "bad_version")
                pos += 1
                continue
            n = (buf[pos + 12] << 8) | buf[pos + 13]
            if n > MAX_BODY:
                self._skip(1, "too_large")
                pos += 1
                continue
            total = HEADER_LEN + n + TRAILER_LEN
            if end - pos < total:
                if final:
                    self._skip(1, "truncated")
                    pos += 1
                    continue
                break
            with memoryview(buf) as mv:
                good = crc16_ccitt_false(mv[pos + 2:pos + total - CRC_LEN]) == (
                    (buf[pos + total - 2] << 8) | buf[pos + total - 1])
            if not good:
                self._skip(1, "bad_crc")
                pos += 1
                continue
            self._flush_run(out)
            out.append(RawFrame(buf[pos:pos + total]))
            self.stats["frames"] += 1
            pos += total
        del buf[:pos]


# --- bodies ---------------------------------------------------------------------------------


def _check_range(name: str, value: Any, bits: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise ValueError(f"{name}={value!r} is not a u{bits}")


class _Body:
    """A fixed-size body: a struct layout in wire order; dataclass fields in the same order."""

    _struct: ClassVar[struct.Struct]
    SIZE: ClassVar[int]

    def problems(self) -> list[str]:
        """Field values the contract does not allow (beyond their integer size)."""
        return []

    def _values(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self) if f.init and f.name not in self._extra_fields())

    @classmethod
    def _extra_fields(cls) -> tuple[str, ...]:
        return ()

    def encode(self, *, validate: bool = True) -> bytes:
        """The body bytes. Raises ValueError for a value that does not fit its field, or (with
        validate, the default) that the contract does not allow."""
        if validate and (bad := self.problems()):
            raise ValueError(f"{type(self).__name__}: " + "; ".join(bad))
        try:
            return self._struct.pack(*self._values())
        except struct.error as exc:
            raise ValueError(f"{type(self).__name__}: {exc}") from None

    @classmethod
    def decode(cls, body: bytes, *, strict: bool = True):
        """Parse a body; ProtocolError(MALFORMED) for a wrong length or (strict) a bad value."""
        if len(body) != cls.SIZE:
            raise _malformed(f"{cls.__name__} body of {len(body)} bytes, expected {cls.SIZE}")
        obj = cls(**dict(zip(cls._names(), cls._struct.unpack(body))))
        if strict and (bad := obj.problems()):
            raise _malformed(f"{cls.__name__}: " + "; ".join(bad))
        return obj

    @classmethod
    def _names(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.init and f.name not in cls._extra_fields()]


def _layout(fmt: str):
    def wrap(cls):
        cls._struct = struct.Struct(">" + fmt)
        cls.SIZE = cls._struct.size
        return cls

    return wrap


def _results(name: str, value: int, allowed: Iterable[int]) -> list[str]:
    return [] if value in allowed else [f"{name} {value}"]


@_layout("HQIIIIH")
@dataclass(kw_only=True)
class SignIn(_Body):
    """0x01 SIGN_IN (and, same layout, 0x02 HEARTBEAT), 28 bytes."""

    firmware_version: int
    blocklist_version: int  # the version the terminal holds
    params_version: int  # the version the terminal holds
    last_seq: int  # highest term_seq recorded, 0 if none
    unsent: int  # records not yet acknowledged
    clock: int  # the terminal's clock, Unix seconds
    reserved: int = 0

    def problems(self) -> list[str]:
        return [] if self.reserved == 0 else ["reserved not 0"]


@dataclass(kw_only=True)
class Heartbeat(SignIn):
    """0x02 HEARTBEAT: the SIGN_IN body."""


@_layout("BIQIIIII")
@dataclass(kw_only=True)
class SignInReply(_Body):
    """0x81 / 0x82 reply, 33 bytes. recollect_from … recollect_to are records the host asks for
    again (0, 0 when none; see recollect_range)."""

    result: int = 0
    server_time: int
    blocklist_version: int
    params_version: int
    ack_upto: int
    offline_until: int  # 0: offline operation not authorised
    recollect_from: int = 0
    recollect_to: int = 0

    def problems(self) -> list[str]:
        bad = _results("result", self.result, (0,))
        if (self.recollect_from == 0) != (self.recollect_to == 0) or self.recollect_from > self.recollect_to:
            bad.append(f"recollect {self.recollect_from}…{self.recollect_to}")
        return bad


@dataclass(kw_only=True)
class HeartbeatReply(SignInReply):
    """0x82: the 0x81 body."""


_RECORD = struct.Struct(">IIBBHB3sIIIIII")


@dataclass(kw_only=True)
class Record(_Body):
    """One 40-byte transaction record of a TXN_BATCH. ``raw`` holds the 40 bytes as received
    (None for a record built in code); it takes no part in equality."""

    term_seq: int
    card_no: int
    card_type: int  # as read from the card: 1 formal, 2 ordinary, 3 consumption
    kind: int  # 1 PURCHASE, 2 DEPOSIT
    card_counter: int  # the card's transaction counter before this transaction
    flags: int = 0  # bit0 OFFLINE, bit1 WRITE_UNCERTAIN, bits 2–7 zero
    reserved: bytes = bytes(3)
    base_amount: int  # PURCHASE: formal-card price; DEPOSIT: cash received (fen)
    surcharge: int = 0  # PURCHASE: extra for the card type; DEPOSIT: 0
    balance_before: int
    balance_after: int
    time: int  # when the card was charged, Unix seconds
    operator_no: int = 0  # DEPOSIT: cashier, or 0 for pending credit; PURCHASE: 0
    raw: bytes | None = field(default=None, compare=False, repr=False)

    _struct = _RECORD
    SIZE = RECORD_LEN

    @classmethod
    def _extra_fields(cls) -> tuple[str, ...]:
        return ("raw",)

    def problems(self) -> list[str]:
        """Field values a strict decode refuses (see also record_arithmetic_ok)."""
        return record_field_problems(self)

    @classmethod
    def decode(cls, body: bytes, *, strict: bool = True) -> Record:
        rec = super().decode(body, strict=strict)
        rec.raw = bytes(body)
        return rec

    @property
    def offline(self) -> bool:
        return bool(self.flags & FLAG_OFFLINE)

    @property
    def write_uncertain(self) -> bool:
        return bool(self.flags & FLAG_WRITE_UNCERTAIN)


_RECORD_NAMES = Record._names()


def record_field_problems(rec: Any) -> list[str]:
    """What a strict decode refuses in a record: card_type not 1…3, kind not 1…2, flags bits 2–7,
    reserved bytes not zero. Empty when the record is well formed."""
    bad = []
    if rec.card_type not in (1, 2, 3):
        bad.append(f"card_type {rec.card_type}")
    if rec.kind not in (1, 2):
        bad.append(f"kind {rec.kind}")
    if rec.flags & ~FLAGS_KNOWN:
        bad.append(f"flags {rec.flags:#04x}")
    if bytes(rec.reserved) != bytes(3):
        bad.append("reserved not 0")
    return bad


@dataclass(kw_only=True)
class TxnBatch:
    """0x10 TXN_BATCH: batch_no (4), count (2, 1 … 500), count × 40-byte records.
    ``frame`` is free for the receiver to keep the raw frame in (not part of the body)."""

    batch_no: int
    records: list[Record]
    frame: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def count(self) -> int:
        return len(self.records)

    def problems(self) -> list[str]:
        bad = [] if 1 <= len(self.records) <= MAX_RECORDS else [f"count {len(self.records)}"]
        for rec in self.records:
            bad += [f"record {rec.term_seq}: {p}" for p in rec.problems()]
        return bad

    def encode(self, *, validate: bool = True) -> bytes:
        if validate and (bad := self.problems()):
            raise ValueError("TxnBatch: " + "; ".join(bad[:5]))
        _check_range("batch_no", self.batch_no, 32)
        _check_range("count", len(self.records), 16)
        return struct.pack(">IH", self.batch_no, len(self.records)) + b"".join(
            r.encode(validate=False) for r in self.records)

    @classmethod
    def decode(cls, body: bytes, *, strict: bool = True) -> TxnBatch:
        if len(body) < 6:
            raise _malformed(f"TXN_BATCH body of {len(body)} bytes")
        batch_no, count = struct.unpack_from(">IH", body)
        if not 1 <= count <= MAX_RECORDS:
            raise _malformed(f"TXN_BATCH count {count}")
        if len(body) != 6 + RECORD_LEN * count:
            raise _malformed(f"TXN_BATCH of {count} records in {len(body)} bytes")
        records = []
        body = bytes(body)
        for i, values in enumerate(_RECORD.iter_unpack(memoryview(body)[6:])):
            rec = Record(**dict(zip(_RECORD_NAMES, values)), raw=body[6 + RECORD_LEN * i:6 + RECORD_LEN * (i + 1)])
            if strict and (bad := record_field_problems(rec)):
                raise _malformed(f"record {i} (term_seq {rec.term_seq}): " + "; ".join(bad))
            records.append(rec)
        return cls(batch_no=batch_no, records=records)


@_layout("IBIHHH")
@dataclass(kw_only=True)
class BatchAck(_Body):
    """0x90 BATCH_ACK, 15 bytes, sent only after the batch is committed."""

    batch_no: int
    result: int = 0
    ack_upto: int
    stored: int  # newly stored (exceptions included)
    duplicates: int  # already stored, same content or not
    exceptions: int  # among both: new records found wrong, duplicates whose content differs

    def problems(self) -> list[str]:
        bad = _results("result", self.result, (0,))
        if not 1 <= self.stored + self.duplicates <= MAX_RECORDS:
            bad.append(f"stored + duplicates = {self.stored + self.duplicates}")
        if self.exceptions > self.stored + self.duplicates:
            bad.append(f"exceptions {self.exceptions} > stored + duplicates")
        return bad


@_layout("II")
@dataclass(kw_only=True)
class RecordsLost(_Body):
    """0x11 RECORDS_LOST, 8 bytes: the terminal no longer has from_seq … to_seq."""

    from_seq: int
    to_seq: int

    def problems(self) -> list[str]:
        return [] if 1 <= self.from_seq <= self.to_seq else [f"range {self.from_seq}…{self.to_seq}"]


@_layout("BI")
@dataclass(kw_only=True)
class RecordsLostReply(_Body):
    """0x91, 5 bytes."""

    result: int = 0
    ack_upto: int

    def problems(self) -> list[str]:
        return _results("result", self.result, (0,))


@_layout("QH")
@dataclass(kw_only=True)
class BlocklistReq(_Body):
    """0x20 BLOCKLIST_REQ, 10 bytes."""

    have_version: int
    max_entries: int = 0


class BlocklistEntry(NamedTuple):
    card_no: int
    op: int  # 1 block, 0 unblock


@dataclass(kw_only=True)
class BlocklistDelta:
    """0xA0 BLOCKLIST_DELTA: from_version (8), to_version (8), full (1), more (1), count (2),
    count × (card_no (4), op (1)). ``entries`` is a list of (card_no, op) pairs."""

    from_version: int
    to_version: int
    full: int = 0
    more: int = 0
    entries: list[tuple[int, int]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.entries)

    def problems(self) -> list[str]:
        bad = _results("full", self.full, (0, 1)) + _results("more", self.more, (0, 1))
        if len(self.entries) > MAX_DELTA_ENTRIES:
            bad.append(f"{len(self.entries)} entries do not fit one body")
        bad += [f"op {op} for card {card_no}" for card_no, op in self.entries if op not in (0, 1)][:5]
        return bad

    def encode(self, *, validate: bool = True) -> bytes:
        if validate and (bad := self.problems()):
            raise ValueError("BlocklistDelta: " + "; ".join(bad))
        try:
            return struct.pack(">QQBBH", self.from_version, self.to_version, self.full, self.more,
                               len(self.entries)) + b"".join(struct.pack(">IB", c, op) for c, op in self.entries)
        except struct.error as exc:
            raise ValueError(f"BlocklistDelta: {exc}") from None

    @classmethod
    def decode(cls, body: bytes, *, strict: bool = True) -> BlocklistDelta:
        if len(body) < 20:
            raise _malformed(f"BLOCKLIST_DELTA body of {len(body)} bytes")
        from_version, to_version, full, more, count = struct.unpack_from(">QQBBH", body)
        if len(body) != 20 + 5 * count:
            raise _malformed(f"BLOCKLIST_DELTA of {count} entries in {len(body)} bytes")
        entries = [BlocklistEntry(*e) for e in struct.iter_unpack(">IB", bytes(body[20:]))]
        obj = cls(from_version=from_version, to_version=to_version, full=full, more=more, entries=entries)
        if strict and (bad := obj.problems()):
            raise _malformed("BlocklistDelta: " + "; ".join(bad))
        return obj


@_layout("Q")
@dataclass(kw_only=True)
class BlocklistApplied(_Body):
    """0x21 BLOCKLIST_APPLIED, 8 bytes: the version the terminal now holds."""

    version: int


@_layout("B")
@dataclass(kw_only=True)
class BlocklistAppliedReply(_Body):
    """0xA1, 1 byte."""

    result: int = 0

    def problems(self) -> list[str]:
        return _results("result", self.result, (0,))


@_layout("I")
@dataclass(kw_only=True)
class ParamsReq(_Body):
    """0x30 PARAMS_REQ, 4 bytes."""

    have_version: int


@_layout("IBHHHIIIH8s")
@dataclass(kw_only=True)
class Params(_Body):
    """0xB0 PARAMS, 33 bytes."""

    params_version: int
    merchant_kind: int  # 1 dining, 2 water control, 3 retail/other, 4 top-up point
    board_fee_bp: int  # basis points of the price, ordinary and consumption cards, dining
    energy_fee_bp: int
    water_multiplier_pct: int  # price at water control for card types 2 and 3, percent (200 = double)
    max_single: int  # largest single PURCHASE, fen
    max_offline_daily: int  # most a card may spend offline in one day on this terminal
    offline_until: int  # as in 0x81
    min_interval_s: int  # duplicate-charge guard
    reserved: bytes = bytes(8)

    def problems(self) -> list[str]:
        bad = _results("merchant_kind", self.merchant_kind, (1, 2, 3, 4))
        if bytes(self.reserved) != bytes(8):
            bad.append("reserved not 0")
        return bad


@_layout("I")
@dataclass(kw_only=True)
class PendingReq(_Body):
    """0x40 PENDING_REQ, 4 bytes."""

    card_no: int


@_layout("IBI")
@dataclass(kw_only=True)
class Pending(_Body):
    """0xC0 PENDING, 9 bytes: card_no (4), result (1: 0 OK, 4 blocked, 5 not a top-up terminal,
    6 unknown card), pending (4, fen)."""

    card_no: int
    result: int = 0
    pending: int = 0

    def problems(self) -> list[str]:
        return _results("result", self.result, tuple(PendingResult))


@_layout("BB")
@dataclass(kw_only=True)
class NackBody(_Body):
    """0x7F NACK body, 2 bytes: code (Nack), detail (0 unless stated; for a version refusal,
    the version received)."""

    code: int
    detail: int = 0

    def problems(self) -> list[str]:
        return _results("code", self.code, tuple(Nack))


def Nack_body(code: int, detail: int = 0) -> bytes:  # noqa: N802 - pairs with the Nack enum
    """The 2-byte body of a NACK with this code."""
    return NackBody(code=int(code), detail=detail).encode()


def Nack_decode(body: bytes) -> Nack:  # noqa: N802
    """The code of a NACK body (ProtocolError(MALFORMED) if it is not one)."""
    return Nack(NackBody.decode(body).code)


# --- type tables ----------------------------------------------------------------------------

REQUEST_BODIES: dict[MsgType, type] = {
    MsgType.SIGN_IN: SignIn,
    MsgType.HEARTBEAT: Heartbeat,
    MsgType.TXN_BATCH: TxnBatch,
    MsgType.RECORDS_LOST: RecordsLost,
    MsgType.BLOCKLIST_REQ: BlocklistReq,
    MsgType.BLOCKLIST_APPLIED: BlocklistApplied,
    MsgType.PARAMS_REQ: ParamsReq,
    MsgType.PENDING_REQ: PendingReq,
}
REPLY_BODIES: dict[MsgType, type] = {
    MsgType.SIGN_IN_REPLY: SignInReply,
    MsgType.HEARTBEAT_REPLY: HeartbeatReply,
    MsgType.BATCH_ACK: BatchAck,
    MsgType.RECORDS_LOST_REPLY: RecordsLostReply,
    MsgType.BLOCKLIST_DELTA: BlocklistDelta,
    MsgType.BLOCKLIST_APPLIED_REPLY: BlocklistAppliedReply,
    MsgType.PARAMS: Params,
    MsgType.PENDING: Pending,
    MsgType.NACK: NackBody,
}
BODY_CLASSES: dict[MsgType, type] = {**REQUEST_BODIES, **REPLY_BODIES}
REPLY_TYPE: dict[MsgType, MsgType] = {t: MsgType(t | 0x80) for t in REQUEST_BODIES}


def is_request(msg_type: int) -> bool:
    """A terminal → host request type (NACK 0x7F is below 0x80 but is a host frame)."""
    return msg_type in REQUEST_BODIES


def reply_type(msg_type: int) -> MsgType:
    """The type of the host's reply to a request: request | 0x80."""
    try:
        return REPLY_TYPE[MsgType(msg_type)]
    except (ValueError, KeyError):
        raise ProtocolError(Nack.UNSUPPORTED, f"type {msg_type:#04x} is not a request") from None


def decode_body(msg_type: int, body: bytes, *, strict: bool = True):
    """Decode the body of a frame of this type. ProtocolError(UNSUPPORTED) for an unknown type,
    ProtocolError(MALFORMED) for a wrong length or (strict) a value the contract does not allow."""
    try:
        cls = BODY_CLASSES[MsgType(msg_type)]
    except (ValueError, KeyError):
        raise ProtocolError(Nack.UNSUPPORTED, f"type {msg_type:#04x}", detail=msg_type) from None
    return cls.decode(body, strict=strict)


# --- record checks the host makes -----------------------------------------------------------


def record_arithmetic_ok(rec: Any) -> bool:
    """The invariants a terminal keeps: PURCHASE balance_after = balance_before − base_amount −
    surcharge and operator_no 0; DEPOSIT balance_after = balance_before + base_amount and
    surcharge 0. Any other kind is not ok. Works on anything with those attributes."""
    if rec.kind == RecordKind.PURCHASE:
        return rec.operator_no == 0 and rec.balance_after == rec.balance_before - rec.base_amount - rec.surcharge
    if rec.kind == RecordKind.DEPOSIT:
        return rec.surcharge == 0 and rec.balance_after == rec.balance_before + rec.base_amount
    return False


def _round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves upwards (integers only)."""
    return (2 * numerator + denominator) // (2 * denominator)


def surcharge_expected(base: int, card_type: int, merchant_kind: int, board_fee_bp: int, energy_fee_bp: int,
                       water_multiplier_pct: int) -> int:
    """The surcharge in fen a terminal applies to a PURCHASE of price ``base`` (fen), rounded
    half-up to the fen, in integer arithmetic:

    - dining (1), card types 2 and 3: base × (board_fee_bp + energy_fee_bp) / 10000
    - water control (2), card types 2 and 3: base × (water_multiplier_pct − 100) / 100
    - otherwise 0.

    E.g. 333 × 250 bp = 8.325 → 8; 5 × 1000 bp = 0.5 → 1; 1000 at 200 % → 1000. A multiplier
    below 100 % yields a negative number (no record can carry it, so it shows as a mismatch)."""
    base, card_type, merchant_kind = operator.index(base), operator.index(card_type), operator.index(merchant_kind)
    if card_type not in (CardType.ORDINARY, CardType.CONSUMPTION):
        return 0
    if merchant_kind == MerchantKind.DINING:
        return _round_half_up(base * (operator.index(board_fee_bp) + operator.index(energy_fee_bp)), 10000)
    if merchant_kind == MerchantKind.WATER:
        return _round_half_up(base * (operator.index(water_multiplier_pct) - 100), 100)
    return 0


def recollect_range(ack_upto: int, next_stored: int | None, last_seq: int) -> tuple[int, int]:
    """(recollect_from, recollect_to) of a 0x81/0x82 reply.

    ``next_stored`` is the lowest term_seq above ack_upto that the host holds (stored or
    declared lost), None if it holds none; ``last_seq`` is the terminal's from this request.
    The first missing run is ack_upto + 1 … next_stored − 1, or, when the host holds nothing
    above ack_upto, ack_upto + 1 … last_seq; (0, 0) when nothing is missing.

    Raises ValueError if next_stored ≤ ack_upto + 1 (ack_upto would not be the end of the
    contiguous run from 1)."""
    if next_stored is not None:
        if next_stored <= ack_upto + 1:
            raise ValueError(f"next stored {next_stored} is not above ack_upto + 1 = {ack_upto + 1}")
        return ack_upto + 1, next_stored - 1
    if last_seq > ack_upto:
        return ack_upto + 1, last_seq
    return 0, 0
