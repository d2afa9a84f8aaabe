"""The POS wire protocol, version 1, at the frame level: layout, CRC, MAC, verification, serial resync.

Part of the codec (``terminals.wire``, see its docstring): no Django, standard library only. The
message bodies, constants and ProtocolError are in ``wire.messages``.

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
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .messages import (
    _U8,
    _U32,
    CRC_LEN,
    HEADER_LEN,
    MAC_LEN,
    MAGIC,
    MAX_BODY,
    MAX_FRAME,
    TRAILER_LEN,
    VERSION,
    ZERO_MAC,
    MsgType,
    Nack,
    NackBody,
    ProtocolError,
    _malformed,
    decode_body,
)

__all__ = [
    "crc16_ccitt_false", "crc16_ccitt_false_table", "mac", "Frame", "RawFrame", "encode_frame", "nack_frame",
    "header_ids", "parse_header", "frame_length", "check_crc", "check_mac", "decode_frame", "verify_frame",
    "verify_host_frame", "Skipped", "StreamDecoder",
]

_HEADER = struct.Struct(">2sBBIIH")


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

