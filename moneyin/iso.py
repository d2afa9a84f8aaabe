"""The bank link's message codec: ISO 8583 (1987, ASCII) through pyiso8583, framed on TCP by a
2-byte big-endian length. No Django imports: the host, the bank emulator and tests share it.

The fields used are listed in FIELDS and documented in docs/moneyin.md.
"""

from __future__ import annotations

import copy
import socket
import struct

import iso8583
from iso8583.specs import default_ascii

SPEC = copy.deepcopy(default_ascii)

TRANSFER_REQUEST, TRANSFER_ANSWER = "0200", "0210"
REVERSAL_REQUEST, REVERSAL_ANSWER = "0400", "0410"
PROCESSING_TRANSFER = "400000"  # 40: funds transfer, from the bank card (00) to the campus account (00)
CURRENCY_CNY = "156"
APPROVED = "00"
# The response codes the host acts on; anything else not 00 is a decline.
DECLINE_REASONS = {
    "05": "do not honour", "14": "invalid card", "51": "insufficient funds", "54": "expired card",
    "61": "exceeds withdrawal limit", "91": "issuer unavailable", "94": "duplicate transmission",
    "96": "system malfunction",
}
FIELDS = {
    "2": "bank card number (PAN)", "3": "processing code", "4": "amount in fen",
    "7": "transmission date and time (MMDDhhmmss, UTC)", "11": "system trace audit number (STAN)",
    "12": "local time (hhmmss)", "13": "local date (MMDD)", "32": "acquiring institution (the school)",
    "37": "retrieval reference number (RRN)", "38": "authorisation code", "39": "response code",
    "41": "terminal id (圈存机 or kiosk)", "42": "card acceptor (the school's merchant id at the bank)",
    "49": "currency (156, CNY)", "90": "original data elements (reversal)",
    "102": "campus account (staff/student number)", "103": "campus card number",
}
MAX_FRAME = 4096


class FrameError(Exception):
    """A frame or message that cannot be read."""


def encode(doc: dict) -> bytes:
    raw, _ = iso8583.encode(dict(doc), SPEC)
    return bytes(raw)


def decode(raw: bytes) -> dict:
    try:
        doc, _ = iso8583.decode(bytearray(raw), SPEC)
    except iso8583.DecodeError as exc:
        raise FrameError(str(exc)) from exc
    doc.pop("p", None)
    doc.pop("1", None)
    return doc


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise FrameError("frame too long")
    return struct.pack(">H", len(payload)) + payload


class FrameReader:
    """Reads length-prefixed frames from a socket; keeps what arrives beyond one frame, so two
    answers sent in one write (a duplicate) are both seen."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def buffered(self) -> bool:
        return len(self.buf) >= 2 and len(self.buf) >= 2 + struct.unpack(">H", self.buf[:2])[0]

    def read(self) -> bytes:
        """One frame; socket.timeout when none arrives in the socket's time-out; EOFError at close."""
        while not self.buffered():
            chunk = self.sock.recv(8192)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
            if len(self.buf) >= 2 and struct.unpack(">H", self.buf[:2])[0] > MAX_FRAME:
                raise FrameError("frame too long")
        n = struct.unpack(">H", self.buf[:2])[0]
        payload, self.buf = self.buf[2:2 + n], self.buf[2 + n:]
        return payload


def send(sock: socket.socket, doc: dict) -> None:
    sock.sendall(frame(encode(doc)))


def original_data(*, mti: str, stan: str, transmitted: str, acquirer: str) -> str:
    """Field 90 of a reversal: the original MTI, STAN, transmission time and acquirer (n42)."""
    return f"{mti}{stan}{transmitted}{acquirer.rjust(11, '0')}{'0' * 11}"
