"""A virtual POS terminal written from the contract alone: the simulator, the benchmarks and the
tests drive the real gateway with it over real sockets.

It keeps what a real terminal keeps: its records until they are acknowledged, its block list
and the version it holds, and it acts on NACK codes as the contract's table says.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from .. import wire

P = wire


class NackError(Exception):
    def __init__(self, code: int):
        super().__init__(f"NACK {code}")
        self.code = code


@dataclass
class VirtualTerminal:
    terminal_id: int
    key: bytes
    msg_seq: int = 0
    term_seq: int = 0
    batch_no: int = 0
    unacked: dict[int, P.Record] = field(default_factory=dict)  # term_seq -> record
    ack_upto: int = 0
    blocklist_version: int = 0
    blocked: set[int] = field(default_factory=set)
    pushes: list = field(default_factory=list)  # (received monotonic time, BlocklistDelta)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    _replies: asyncio.Queue | None = None
    _reader_task: asyncio.Task | None = None
    push_event: asyncio.Event | None = None
    # card_no -> (wall time, "push" or "sync") when this terminal first held it blocked: what
    # it may charge is judged by what it knew then, not by a fixed window.
    learned: dict[int, tuple[float, str]] = field(default_factory=dict)

    # --- connection -------------------------------------------------------------------

    async def connect(self, host: str, port: int, sign_in: bool = True):
        self.reader, self.writer = await asyncio.open_connection(host, port)
        self._replies = asyncio.Queue()
        self.push_event = asyncio.Event()
        self._reader_task = asyncio.create_task(self._read_loop())
        if sign_in:
            return await self.sign_in()

    async def close(self):
        if self.writer:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        if self._reader_task:
            self._reader_task.cancel()

    async def _read_frame(self) -> tuple[int, int, bytes]:
        header = await self.reader.readexactly(P.HEADER_LEN)
        msg_type, terminal_id, msg_seq, body_len = P.parse_header(header)
        rest = await self.reader.readexactly(body_len + P.TRAILER_LEN)
        raw = header + rest
        if not P.check_crc(raw):
            raise P.ProtocolError(P.Nack.BAD_CRC)
        if msg_type != P.MsgType.NACK or raw[P.HEADER_LEN + body_len:P.HEADER_LEN + body_len + 8] != bytes(8):
            if not P.check_mac(raw, self.key):
                raise P.ProtocolError(P.Nack.BAD_MAC)
        return msg_type, msg_seq, raw[P.HEADER_LEN:P.HEADER_LEN + body_len]

    async def _read_loop(self):
        try:
            while True:
                msg_type, msg_seq, body = await self._read_frame()
                if msg_type == P.MsgType.BLOCKLIST_DELTA and msg_seq == 0:
                    delta = P.BlocklistDelta.decode(body)
                    self.pushes.append((time.monotonic(), delta))
                    if delta.from_version == self.blocklist_version and not delta.more:
                        self._apply(delta, how="push")
                    self.push_event.set()
                    continue
                await self._replies.put((msg_type, msg_seq, body))
        except (asyncio.IncompleteReadError, ConnectionError, P.ProtocolError, asyncio.CancelledError) as exc:
            await self._replies.put((None, None, exc))

    async def request(self, msg_type: int, body: bytes, timeout: float = 10.0):
        self.msg_seq += 1
        frame = P.encode_frame(msg_type, self.terminal_id, self.msg_seq, body, self.key)
        self.writer.write(frame)
        await self.writer.drain()
        reply_type, reply_seq, reply = await asyncio.wait_for(self._replies.get(), timeout)
        if reply_type is None:
            raise ConnectionError(f"connection lost: {reply!r}")
        if reply_type == P.MsgType.NACK:
            raise NackError(P.Nack_decode(reply))
        assert reply_seq == self.msg_seq, (reply_seq, self.msg_seq)
        return P.decode_body(reply_type, reply)

    # --- messages -----------------------------------------------------------------------

    def _status_body(self) -> bytes:
        return P.SignIn(
            firmware_version=1, blocklist_version=self.blocklist_version, params_version=0,
            last_seq=self.term_seq, unsent=len(self.unacked), clock=int(time.time()), reserved=0,
        ).encode()

    async def sign_in(self):
        reply = await self.request(P.MsgType.SIGN_IN, self._status_body())
        self._acked(reply.ack_upto)
        return reply

    async def heartbeat(self):
        reply = await self.request(P.MsgType.HEARTBEAT, self._status_body())
        self._acked(reply.ack_upto)
        return reply

    def _acked(self, ack_upto: int):
        self.ack_upto = max(self.ack_upto, ack_upto)
        for seq in [s for s in self.unacked if s <= ack_upto]:
            del self.unacked[seq]

    def record(self, **fields) -> P.Record:
        """Make a new record with the next term_seq and keep it until acknowledged."""
        self.term_seq += 1
        values = dict(flags=0, reserved=b"\x00\x00\x00", surcharge=0, operator_no=0, time=int(time.time()))
        values.update(fields)
        rec = P.Record(term_seq=self.term_seq, **values)
        self.unacked[rec.term_seq] = rec
        return rec

    async def upload(self, records: list[P.Record] | None = None):
        """Send records (default: every unacknowledged one, 500 per batch); returns the ACKs."""
        records = sorted(self.unacked.values(), key=lambda r: r.term_seq) if records is None else records
        acks = []
        for i in range(0, len(records), 500):
            self.batch_no += 1
            body = P.TxnBatch(batch_no=self.batch_no, records=records[i:i + 500]).encode()
            ack = await self.request(P.MsgType.TXN_BATCH, body)
            self._acked(ack.ack_upto)
            acks.append(ack)
        return acks

    async def sync_blocklist(self, max_entries: int = 0):
        """Ask for the changes until more = 0, apply them, confirm."""
        while True:
            delta = await self.request(P.MsgType.BLOCKLIST_REQ,
                                       P.BlocklistReq(have_version=self.blocklist_version,
                                                      max_entries=max_entries).encode())
            self._apply(delta)
            if not delta.more:
                break
        await self.request(P.MsgType.BLOCKLIST_APPLIED, P.BlocklistApplied(version=self.blocklist_version).encode())
        return self.blocklist_version

    def _apply(self, delta, how: str = "sync"):
        if delta.full:
            self.blocked = set()
        now = time.time()
        for card_no, op in delta.entries:
            if op == 1 and card_no not in self.blocked:
                self.learned.setdefault(card_no, (now, how))
            (self.blocked.add if op == 1 else self.blocked.discard)(card_no)
        self.blocklist_version = delta.to_version
