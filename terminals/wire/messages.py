"""The POS wire protocol, version 1, at the message level: constants, message types, NACK codes,
ProtocolError, every body (encode/decode), the type tables and the record checks a host makes.

Part of the codec (``terminals.wire``, see its docstring): no Django, standard library only.
Frames, CRC, MAC and the serial stream decoder are in ``wire.frames``, which builds on this module.

Strictness: every "reserved, 0" field, record flags bits 2–7, and every enumerated value
(card_type 1…3, kind 1…2, merchant_kind 1…4, full/more/op 0…1, a reply's result 0, PENDING's
result 0/4/5/6, NACK code 1…9) are checked by ``decode`` and give ProtocolError(MALFORMED).
``decode(..., strict=False)`` checks lengths and counts only, for a host that prefers to store
an odd record as an exception (see ``record_field_problems``) rather than refuse the batch.
Encoding validates the same way unless ``encode(validate=False)`` (for test clients that want
to send a deliberately bad body).
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from enum import IntEnum, IntFlag
from typing import Any, ClassVar, NamedTuple

__all__ = [
    "MAGIC", "VERSION", "HEADER_LEN", "TRAILER_LEN", "MAC_LEN", "CRC_LEN", "MAX_BODY", "MAX_FRAME", "MAX_RECORDS",
    "RECORD_LEN", "MAX_DELTA_ENTRIES", "ZERO_MAC", "MsgType", "Nack", "NackCode", "RecordKind", "RecordFlag",
    "FLAG_OFFLINE", "FLAG_WRITE_UNCERTAIN", "FLAGS_KNOWN", "CardType", "MerchantKind", "BlocklistOp", "PendingResult",
    "ProtocolError", "SignIn", "Heartbeat", "SignInReply", "HeartbeatReply", "Record", "TxnBatch", "BatchAck",
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
