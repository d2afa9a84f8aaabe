"""Virtual terminals and cards that drive the real gateway: `manage.py simulate_terminals`, the
tests and the benchmarks use this module.

The cards keep one shared in-memory state (counter and balance), so whichever terminal a card
is presented at, its counter rises by one per transaction and its balance carries over, as on a
real purse. Terminals buy at the rates of their merchant kind and the hour (canteen peaks at
breakfast, lunch and dinner, showers in the evening), take cash top-ups and write pending credit
at top-up points, charge the surcharges PARAMS (0x30) give, refuse cards on their block list and
apply pushed changes, go offline (records flagged OFFLINE, uploaded later) and, with faults on,
drop connections mid-batch and resend the identical frame, upload out of order so the host asks
for a recollect, and answer it.

Time: the simulated clock (Asia/Shanghai, starting now, `speed` times faster than the wall) only
sets the rates; records carry the wall-clock time, so the host's checks at the record's time
(assignment, rates, block list, offline periods) see real times, never future ones.

Money the host has not posted yet: a cash top-up is spendable on the card only once the host
has posted it (the sim asks the database). Otherwise a purchase at another terminal could be
posted before the top-up that paid for it, and the host would (rightly) refuse to take the purse
below zero. Pending credit is already in the account, so it is spendable at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from terminals import wire
from terminals.wire.client import NackError, VirtualTerminal

P = wire
K = P.MerchantKind
log = logging.getLogger("campuscard.simulator")
SHANGHAI = ZoneInfo("Asia/Shanghai")

KIND_SHARE = {K.DINING: 0.45, K.WATER: 0.2, K.RETAIL: 0.2, K.TOPUP: 0.15}
KIND_NAMES = {K.DINING: "dining", K.WATER: "water", K.RETAIL: "retail", K.TOPUP: "topup"}

# Transactions per terminal per simulated minute: a base while open, plus peaks (centre hour,
# width in hours, height).
RATES = {
    K.DINING: ((6.5, 21.5), 0.15, [(7.4, 0.5, 2.5), (12.0, 0.6, 6.0), (17.9, 0.6, 4.5)]),
    K.WATER: ((6.0, 23.5), 0.2, [(7.2, 0.5, 1.0), (21.3, 1.0, 2.5)]),
    K.RETAIL: ((8.0, 22.5), 0.4, [(12.5, 0.8, 1.0), (19.5, 1.5, 1.0)]),
    K.TOPUP: ((8.0, 20.0), 0.2, [(11.6, 0.8, 0.6), (17.5, 0.8, 0.6)]),
}
NIGHT_RATE = 0.02
DINING_PRICES = [150, 250, 400, 550, 650, 800, 950, 1200, 1500, 1800]
TOPUP_AMOUNTS = [5000, 10000, 10000, 20000, 30000]
LOW_BALANCE = 2000  # below this a card goes to a top-up point


def rate_per_minute(kind: int, hour: float) -> float:
    (opens, closes), base, peaks = RATES[kind]
    if not opens <= hour < closes:
        return NIGHT_RATE if kind != K.TOPUP else 0.0
    return base + sum(h * math.exp(-(((hour - c) / w) ** 2)) for c, w, h in peaks)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


# --- configuration and state ---------------------------------------------------------------


@dataclass
class SimConfig:
    minutes: float = 10.0  # simulated minutes
    speed: float = 1.0  # simulated minutes per wall minute
    seed: int = 1
    tcp: tuple[str, int] | None = ("127.0.0.1", 9100)
    serial: str | None = None  # a pyserial URL instead of TCP
    offline_share: float = 0.0  # share of (non top-up) terminals that go offline now and then
    faults: bool = False
    fault_rate: float = 0.1  # per batch, with faults on
    batch_size: int = 50
    upload_every: float = 3.0  # wall seconds between uploads of what is waiting
    heartbeat_every: float = 20.0  # wall seconds (the contract: at most 30 s idle)
    reply_timeout: float = 10.0
    tick: float = 0.25
    start: dt.datetime | None = None  # simulated start (default: now)
    connect_retry_for: float = 30.0  # keep trying to reach the gateway this long at start


@dataclass
class VirtualCard:
    card_no: int
    card_type: int
    counter: int
    balance: int
    offset: int = 0  # host balance − pending − card balance at the start (0 for a card in step)
    unposted: int = 0  # cash top-ups on the card that the host has not posted yet: not spendable
    pending_written: bool = False
    wants_topup: bool = False
    offline_spent: dict = field(default_factory=dict)  # (terminal_id, day) -> fen

    @property
    def spendable(self) -> int:
        return self.balance - self.unposted


@dataclass
class TerminalSpec:
    terminal_id: int
    key: bytes
    kind: int
    term_seq: int = 0  # last number used before this run
    batch_no: int = 0


@dataclass
class Stats:
    made: Counter = field(default_factory=Counter)  # purchase, deposit, pending_deposit, offline
    fen: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)  # blocked, funds, limit, offline_limit
    acked: int = 0
    stored: int = 0
    duplicates: int = 0
    exceptions: int = 0
    batches: int = 0
    resends: int = 0
    reconnects: int = 0
    recollects: int = 0
    lost: int = 0
    nacks: Counter = field(default_factory=Counter)
    pushes: int = 0
    blocklist_syncs: int = 0
    faults: Counter = field(default_factory=Counter)
    stopped: Counter = field(default_factory=Counter)
    ack_latency: list = field(default_factory=list)
    per_hour: Counter = field(default_factory=Counter)  # simulated hour -> records

    def summary(self) -> list[str]:
        made = sum(v for k, v in self.made.items() if k != "offline")
        lat = self.ack_latency
        lines = [
            f"records made      {made}  ({', '.join(f'{k} {v}' for k, v in sorted(self.made.items()))})",
            f"acknowledged      {self.acked}   stored {self.stored}   duplicates {self.duplicates}   "
            f"exceptions {self.exceptions}   batches {self.batches}",
            f"NACKs             {sum(self.nacks.values())} {dict(self.nacks) or ''}",
            f"faults            {dict(self.faults) or 0}   resends {self.resends}   reconnects {self.reconnects}   "
            f"recollects answered {self.recollects}   records declared lost {self.lost}",
            f"block list        pushes {self.pushes}   syncs {self.blocklist_syncs}   refused {dict(self.refused) or 0}",
            f"money (fen)       {dict(self.fen)}",
        ]
        if lat:
            lines.append(f"ACK latency (ms)  p50 {percentile(lat, 50) * 1e3:.1f}   p95 {percentile(lat, 95) * 1e3:.1f}   "
                         f"p99 {percentile(lat, 99) * 1e3:.1f}   n {len(lat)}")
        if self.stopped:
            lines.append(f"terminals stopped {dict(self.stopped)}")
        if self.per_hour:
            lines.append("per simulated hour " + "  ".join(f"{h:02d}h:{n}" for h, n in sorted(self.per_hour.items())))
        return lines


class TerminalStopped(Exception):
    """A NACK the contract says to stop on (2 bad MAC, 3 unknown, 4 disabled, 5, 6)."""


# --- a serial line shared by several terminals ---------------------------------------------


class SerialLine:
    """Several virtual terminals behind one serial port, told apart by terminal_id. Frames the
    line decodes are fed into per-terminal StreamReaders, so the VirtualTerminal code reads them
    exactly as from a socket."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop):
        import serial

        self.port = serial.serial_for_url(url, baudrate=115200, timeout=0.05)
        self.loop = loop
        self.decoder = P.StreamDecoder()
        self.readers: dict[int, asyncio.StreamReader] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="sim-serial", daemon=True)
        self._thread.start()

    def _read(self):
        while not self._stop.is_set():
            try:
                data = self.port.read(4096)
            except Exception:  # noqa: BLE001 - port closed at shutdown
                return
            frames = self.decoder.feed(data) if data else [e for e in self.decoder.idle() if isinstance(e, bytes)]
            for raw in frames:
                reader = self.readers.get(raw.terminal_id)
                if reader is not None:
                    self.loop.call_soon_threadsafe(reader.feed_data, bytes(raw))

    def write(self, data: bytes):
        with self._lock:
            self.port.write(data)
            self.port.flush()

    def open(self, terminal_id: int):
        reader = asyncio.StreamReader()
        self.readers[terminal_id] = reader
        return reader, _SerialWriter(self, terminal_id, reader)

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.port.close()


class _SerialWriter:
    def __init__(self, line: SerialLine, terminal_id: int, reader: asyncio.StreamReader):
        self.line, self.terminal_id, self.reader = line, terminal_id, reader

    def write(self, data: bytes):
        self.line.write(data)

    async def drain(self):
        await asyncio.sleep(0)

    def close(self):
        if self.line.readers.get(self.terminal_id) is self.reader:
            del self.line.readers[self.terminal_id]
        self.reader.feed_eof()

    async def wait_closed(self):
        return None

    def get_extra_info(self, name, default=None):
        return default


# --- one virtual terminal ------------------------------------------------------------------


class SimTerminal:
    """A terminal of the simulation: VirtualTerminal for the wire, plus what the till does."""

    def __init__(self, sim: Simulation, spec: TerminalSpec, index: int):
        self.sim, self.spec, self.kind = sim, spec, spec.kind
        self.vt = VirtualTerminal(terminal_id=spec.terminal_id, key=spec.key)
        self.vt.term_seq = self.vt.ack_upto = spec.term_seq
        self.vt.batch_no = spec.batch_no
        self.rng = random.Random(sim.config.seed * 7919 + spec.terminal_id)
        self.params: P.Params | None = None
        self.params_version = 0
        self.connected = False
        self.offline = False  # the host is unreachable for this terminal (simulated)
        cfg = sim.config
        self.goes_offline = self.kind != K.TOPUP and index < round(cfg.offline_share * len(sim.specs))
        self.next_toggle = time.monotonic() + self.rng.expovariate(1 / max(5.0, sim.wall_seconds / 4))
        self.last_upload = self.last_contact = time.monotonic()
        self.held_back: set[int] = set()  # sent out of order on purpose: wait for the recollect
        self.recollect = (0, 0)
        self.made: dict[int, bytes] = {}  # term_seq -> the 40 bytes, for verification
        self.seen_pushes = 0
        self.stopped: int | None = None

    # --- wire ---------------------------------------------------------------------------

    async def _open(self):
        vt = self.vt
        if self.sim.serial_line is not None:
            vt.reader, vt.writer = self.sim.serial_line.open(vt.terminal_id)
        else:
            host, port = self.sim.config.tcp
            vt.reader, vt.writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        vt._replies = asyncio.Queue()
        vt.push_event = asyncio.Event()
        vt._reader_task = asyncio.create_task(vt._read_loop())

    async def disconnect(self):
        if self.vt.writer is not None:
            await self.vt.close()
            self.vt.writer = None
        self.connected = False

    async def _roundtrip(self, frame: bytes, msg_seq: int, fault: str | None = None):
        vt = self.vt
        if fault == "cut":  # the line dies in the middle of the frame
            vt.writer.write(frame[: len(frame) // 2])
            await vt.writer.drain()
            raise ConnectionError("fault: connection cut mid-frame")
        vt.writer.write(frame)
        await vt.writer.drain()
        if fault == "drop_ack":  # the frame arrives, the ACK never does
            raise ConnectionError("fault: connection lost before the reply")
        while True:
            reply_type, reply_seq, reply = await asyncio.wait_for(vt._replies.get(), self.sim.config.reply_timeout)
            if reply_type is None:
                raise ConnectionError(f"connection lost: {reply!r}")
            if reply_type == P.MsgType.NACK:
                raise NackError(P.Nack_decode(reply))
            if reply_seq == msg_seq:
                return P.decode_body(reply_type, reply)
            # A late reply to a frame given up on (serial has no connection to drop): skip it.

    async def _sign_in(self):
        await self._open()
        self.vt.msg_seq += 1
        frame = P.encode_frame(P.MsgType.SIGN_IN, self.vt.terminal_id, self.vt.msg_seq, self._status(), self.vt.key)
        reply = await self._roundtrip(frame, self.vt.msg_seq)
        self.connected = True
        self._status_reply(reply)

    def _status(self) -> bytes:
        vt = self.vt
        return P.SignIn(firmware_version=1, blocklist_version=vt.blocklist_version,
                        params_version=self.params_version, last_seq=vt.term_seq, unsent=len(vt.unacked),
                        clock=int(time.time())).encode()

    def _status_reply(self, reply):
        self.last_contact = time.monotonic()
        self._acked(reply.ack_upto)
        self.recollect = (reply.recollect_from, reply.recollect_to)
        self.host_blocklist_version = reply.blocklist_version
        self.host_params_version = reply.params_version

    def _acked(self, ack_upto: int):
        before = len(self.vt.unacked)
        self.vt._acked(ack_upto)
        self.sim.stats.acked += before - len(self.vt.unacked)
        self.held_back = {s for s in self.held_back if s > ack_upto}

    async def connect(self):
        """(Re)connect and sign in, with back-off; then catch up on parameters and block list."""
        delay = 0.2
        while True:
            try:
                await self._sign_in()
                break
            except NackError as exc:
                await self._on_nack(exc.code)
            except (ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError):
                pass
            await self.disconnect()
            await asyncio.sleep(delay * (0.5 + self.rng.random()))
            delay = min(delay * 2, 5.0)
        if self.params is None or self.host_params_version != self.params_version:
            await self.fetch_params()
        if self.host_blocklist_version != self.vt.blocklist_version:
            await self.sync_blocklist()

    async def _on_nack(self, code: int):
        self.sim.stats.nacks[code] += 1
        if code in (P.Nack.BAD_MAC, P.Nack.UNKNOWN_TERMINAL, P.Nack.DISABLED, P.Nack.UNSUPPORTED, P.Nack.MALFORMED):
            self.stopped = code
            self.sim.stats.stopped[code] += 1
            raise TerminalStopped(code)

    async def call(self, msg_type: int, body: bytes, *, fault: str | None = None):
        """A request, resent identically (same msg_seq) until answered, as the contract says."""
        self.vt.msg_seq += 1
        msg_seq = self.vt.msg_seq
        frame = P.encode_frame(msg_type, self.vt.terminal_id, msg_seq, body, self.vt.key)
        delay = 0.2
        for attempt in range(30):
            if not self.connected:
                await self.connect()
            try:
                reply = await self._roundtrip(frame, msg_seq, fault if attempt == 0 else None)
                self.last_contact = time.monotonic()
                return reply
            except NackError as exc:
                await self._on_nack(exc.code)  # raises for the stop codes
                if exc.code == P.Nack.NOT_SIGNED_IN:
                    await self.disconnect()
                elif exc.code == P.Nack.TOO_LARGE:
                    raise
                else:  # 1 bad CRC, 9 busy: the connection is closed; resend later
                    await self.disconnect()
                    await asyncio.sleep(delay * (0.5 + self.rng.random()))
                    delay = min(delay * 2, 5.0)
            except (ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError):
                self.sim.stats.reconnects += 1
                await self.disconnect()
                await asyncio.sleep(delay * self.rng.random())
                delay = min(delay * 2, 5.0)
            self.sim.stats.resends += 1
        raise ConnectionError(f"terminal {self.spec.terminal_id}: no answer after 30 attempts")

    async def fetch_params(self):
        self.params = await self.call(P.MsgType.PARAMS_REQ, P.ParamsReq(have_version=self.params_version).encode())
        self.params_version = self.params.params_version
        self.kind = self.params.merchant_kind

    async def sync_blocklist(self):
        vt = self.vt
        self.sim.stats.blocklist_syncs += 1
        while True:
            delta = await self.call(P.MsgType.BLOCKLIST_REQ,
                                    P.BlocklistReq(have_version=vt.blocklist_version, max_entries=0).encode())
            vt._apply(delta)
            if not delta.more:
                break
        await self.call(P.MsgType.BLOCKLIST_APPLIED, P.BlocklistApplied(version=vt.blocklist_version).encode())

    async def heartbeat(self):
        reply = await self.call(P.MsgType.HEARTBEAT, self._status())
        self._status_reply(reply)
        if reply.params_version != self.params_version:
            await self.fetch_params()
        if reply.blocklist_version != self.vt.blocklist_version:
            await self.sync_blocklist()

    async def on_pushes(self):
        vt = self.vt
        if not vt.push_event or not vt.push_event.is_set():
            return
        vt.push_event.clear()
        new = vt.pushes[self.seen_pushes:]
        self.seen_pushes = len(vt.pushes)
        self.sim.stats.pushes += len(new)
        if new and vt.blocklist_version >= new[-1][1].to_version:
            # The read loop applied it (its from_version was ours): confirm, in the terminal's word.
            await self.call(P.MsgType.BLOCKLIST_APPLIED, P.BlocklistApplied(version=vt.blocklist_version).encode())
        elif new:
            await self.sync_blocklist()

    async def upload(self, records: list[P.Record]):
        cfg = self.sim.config
        for i in range(0, len(records), cfg.batch_size):
            chunk = records[i:i + cfg.batch_size]
            self.vt.batch_no += 1
            body = P.TxnBatch(batch_no=self.vt.batch_no, records=chunk).encode()
            fault = None
            if cfg.faults and self.rng.random() < cfg.fault_rate:
                fault = self.rng.choice(["cut", "drop_ack"])
                self.sim.stats.faults[fault] += 1
            t0 = time.monotonic()
            ack = await self.call(P.MsgType.TXN_BATCH, body, fault=fault)
            if fault is None:
                self.sim.stats.ack_latency.append(time.monotonic() - t0)
            st = self.sim.stats
            st.batches += 1
            st.stored += ack.stored
            st.duplicates += ack.duplicates
            st.exceptions += ack.exceptions
            self._acked(ack.ack_upto)
        self.last_upload = time.monotonic()

    async def answer_recollect(self):
        rfrom, rto = self.recollect
        if not rfrom:
            return
        self.recollect = (0, 0)
        self.sim.stats.recollects += 1
        held = [self.vt.unacked[s] for s in range(rfrom, rto + 1) if s in self.vt.unacked]
        self.held_back -= set(range(rfrom, rto + 1))
        if held:
            await self.upload(held)
        missing = [s for s in range(rfrom, rto + 1) if s not in self.vt.unacked and s > self.vt.ack_upto]
        if missing and not held:  # records this terminal no longer has: say so, so ack_upto moves on
            self.sim.stats.lost += len(missing)
            reply = await self.call(P.MsgType.RECORDS_LOST, P.RecordsLost(from_seq=missing[0], to_seq=missing[-1]).encode())
            self._acked(reply.ack_upto)

    async def flush(self, everything: bool = False):
        """Upload what waits; with faults, now and then out of order, so that the host asks again."""
        await self.answer_recollect()
        waiting = sorted((r for s, r in self.vt.unacked.items() if everything or s not in self.held_back),
                         key=lambda r: r.term_seq)
        if not waiting:
            return
        if (self.sim.config.faults and not everything and len(waiting) >= 4
                and self.rng.random() < self.sim.config.fault_rate / 2):
            cut = len(waiting) // 2
            self.held_back |= {r.term_seq for r in waiting[:cut]}
            self.sim.stats.faults["out_of_order"] += 1
            waiting = waiting[cut:]
        await self.upload(waiting)

    # --- the till -----------------------------------------------------------------------

    def _new_record(self, card: VirtualCard, kind: int, base: int, surcharge: int, operator_no: int) -> P.Record:
        after = card.balance - base - surcharge if kind == P.RecordKind.PURCHASE else card.balance + base
        rec = self.vt.record(card_no=card.card_no, card_type=card.card_type, kind=kind, card_counter=card.counter,
                             flags=P.FLAG_OFFLINE if self.offline else 0, base_amount=base, surcharge=surcharge,
                             balance_before=card.balance, balance_after=after, time=int(time.time()),
                             operator_no=operator_no)
        card.counter += 1
        card.balance = after
        self.made[rec.term_seq] = rec.encode()
        st = self.sim.stats
        st.per_hour[self.sim.sim_now().hour] += 1
        if self.offline:
            st.made["offline"] += 1
        return rec

    def purchase(self, card: VirtualCard) -> bool:
        st, p = self.sim.stats, self.params
        if card.card_no in self.vt.blocked:
            st.refused["blocked"] += 1
            return False
        if self.kind == K.DINING:
            base = self.rng.choice(DINING_PRICES)
        elif self.kind == K.WATER:
            base = self.rng.randrange(50, 400, 10)
        else:
            base = self.rng.randrange(150, 6000, 10)
        surcharge = P.surcharge_expected(base, card.card_type, self.kind, p.board_fee_bp, p.energy_fee_bp,
                                         p.water_multiplier_pct)
        total = base + surcharge
        if base > p.max_single:
            st.refused["limit"] += 1
            return False
        if total > card.spendable:
            st.refused["funds"] += 1
            card.wants_topup = True
            return False
        if self.offline:
            day = (self.spec.terminal_id, self.sim.sim_now().date())
            if card.offline_spent.get(day, 0) + total > p.max_offline_daily:
                st.refused["offline_limit"] += 1
                return False
            card.offline_spent[day] = card.offline_spent.get(day, 0) + total
        self._new_record(card, P.RecordKind.PURCHASE, base, surcharge, 0)
        st.made["purchase"] += 1
        st.fen["purchase"] += total
        st.fen["surcharge"] += surcharge
        if card.spendable < LOW_BALANCE:
            card.wants_topup = True
        return True

    async def topup(self, card: VirtualCard) -> bool:
        st = self.sim.stats
        if card.card_no in self.vt.blocked:
            st.refused["blocked"] += 1
            return False
        if not card.pending_written and not self.offline:
            # A top-up point asks for pending credit whenever a card is presented (0x40). Claimed
            # before the question: while this till waits for the answer another till may take
            # the same card, and two pending deposits would credit it twice.
            card.pending_written = True
            pend = await self.call(P.MsgType.PENDING_REQ, P.PendingReq(card_no=card.card_no).encode())
            card.pending_written = pend.result == P.PendingResult.OK and pend.pending > 0
            if card.pending_written:
                # Written once per run: the host's pending only falls when this record is posted.
                self._new_record(card, P.RecordKind.DEPOSIT, pend.pending, 0, 0)
                st.made["pending_deposit"] += 1
                st.fen["pending_deposit"] += pend.pending
                if card.spendable >= LOW_BALANCE:
                    card.wants_topup = False
                    return True
        amount = self.rng.choice(TOPUP_AMOUNTS)
        rec = self._new_record(card, P.RecordKind.DEPOSIT, amount, 0, self.sim.operator_no)
        card.unposted += amount
        self.sim.unposted_deposits.append((self.spec.terminal_id, rec.term_seq, card, amount))
        st.made["deposit"] += 1
        st.fen["deposit"] += amount
        card.wants_topup = False
        return True

    async def transact(self):
        sim = self.sim
        if self.kind == K.TOPUP:
            if sim.topup_queue:
                card = sim.topup_queue.pop(0)
                sim.queued.discard(card.card_no)
            else:
                card = sim.rng.choice(sim.cards)
            await self.topup(card)
            return
        card = sim.rng.choice(sim.cards)
        self.purchase(card)
        if card.wants_topup and card.card_no not in sim.queued:
            sim.queued.add(card.card_no)
            sim.topup_queue.append(card)

    # --- the terminal's day ---------------------------------------------------------------

    def _toggle_offline(self, now: float):
        if not self.goes_offline or now < self.next_toggle:
            return
        self.offline = not self.offline
        mean = self.sim.wall_seconds / (8 if self.offline else 4)
        self.next_toggle = now + self.rng.expovariate(1 / max(2.0, mean))

    async def run(self, end: float):
        try:
            await self.connect()
            last = time.monotonic()
            while time.monotonic() < min(end, self.sim.stop_at):
                now = time.monotonic()
                was_offline = self.offline
                self._toggle_offline(now)
                if self.offline and not was_offline:
                    await self.disconnect()
                sim_minutes = (now - last) * self.sim.config.speed / 60
                last = now
                n = _poisson(self.rng, rate_per_minute(self.kind, _hour(self.sim.sim_now())) * sim_minutes)
                if self.kind == K.TOPUP and self.sim.topup_queue:
                    n += 1 + _poisson(self.rng, 0.5)  # a queue at the cash desk
                for _ in range(n):
                    await self.transact()
                if not self.offline:
                    await self.service(now)
                await asyncio.sleep(self.sim.config.tick * (0.5 + self.rng.random()))
            await self.finish()
        except TerminalStopped:
            pass
        finally:
            await self.disconnect()

    async def service(self, now: float):
        cfg = self.sim.config
        if not self.connected:
            await self.connect()
        await self.on_pushes()
        due = len(self.vt.unacked) - len(self.held_back) >= cfg.batch_size or (
            self.vt.unacked and now - self.last_upload >= cfg.upload_every)
        if due or self.recollect[0]:
            await self.flush()
        if time.monotonic() - self.last_contact >= cfg.heartbeat_every or self.held_back:
            await self.heartbeat()
            await self.answer_recollect()

    async def finish(self):
        """End of the run: back online, upload everything, until the host has acknowledged all."""
        self.offline = False
        for _ in range(20):
            if not self.connected:
                await self.connect()
            await self.on_pushes()
            await self.flush(everything=True)
            await self.heartbeat()
            if not self.vt.unacked and not self.recollect[0]:
                return
            await self.answer_recollect()


def _hour(at: dt.datetime) -> float:
    return at.hour + at.minute / 60 + at.second / 3600


# --- the simulation --------------------------------------------------------------------------


class Simulation:
    def __init__(self, config: SimConfig, specs: list[TerminalSpec], cards: list[VirtualCard], *,
                 operator_no: int, deposit_status=None, poster=None):
        """deposit_status(pairs) -> set of (terminal_id, term_seq) posted; poster() posts what
        waits (when no Celery worker runs). Both are called in a worker thread."""
        self.config, self.specs, self.cards = config, specs, cards
        self.operator_no = operator_no
        self.deposit_status, self.poster = deposit_status, poster
        self.stats = Stats()
        self.rng = random.Random(config.seed)
        self.wall_seconds = config.minutes * 60 / config.speed
        self.stop_at = float("inf")  # monotonic time the traffic ends before its planned end (stop())
        self.sim_start = config.start or dt.datetime.now(SHANGHAI)
        self.wall_start = time.monotonic()
        self.unposted_deposits: list[tuple] = []
        self.topup_queue: list[VirtualCard] = []
        self.queued: set[int] = set()
        self.serial_line: SerialLine | None = None
        self.terminals = [SimTerminal(self, spec, i) for i, spec in enumerate(specs)]
        self.elapsed = 0.0

    def stop(self) -> None:
        """End the traffic now, from any thread: each terminal then uploads what it holds, as at
        the planned end."""
        self.stop_at = time.monotonic()

    def sim_now(self) -> dt.datetime:
        return self.sim_start + dt.timedelta(seconds=(time.monotonic() - self.wall_start) * self.config.speed)

    async def run(self) -> Stats:
        loop = asyncio.get_running_loop()
        if self.config.serial:
            self.serial_line = SerialLine(self.config.serial, loop)
        else:
            await self._wait_for_gateway()
        self.wall_start = time.monotonic()
        self.topup_queue = [c for c in self.cards if c.spendable < LOW_BALANCE]  # the opening queue
        self.queued = {c.card_no for c in self.topup_queue}
        for c in self.topup_queue:
            c.wants_topup = True
        end = self.wall_start + self.wall_seconds
        helper = asyncio.create_task(self._helpers())
        try:
            await asyncio.gather(*(t.run(end) for t in self.terminals))
        finally:
            helper.cancel()
            if self.serial_line:
                self.serial_line.close()
        self.elapsed = time.monotonic() - self.wall_start
        return self.stats

    async def _wait_for_gateway(self):
        host, port = self.config.tcp
        deadline = time.monotonic() + self.config.connect_retry_for
        while True:
            try:
                _, writer = await asyncio.open_connection(host, port)
                writer.close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def _helpers(self):
        """Posting (when asked to stand in for the worker) and releasing posted top-ups."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.5)
            try:
                if self.poster is not None:
                    await loop.run_in_executor(None, self.poster)
                if self.deposit_status is not None and self.unposted_deposits:
                    pairs = [(t, s) for t, s, _, _ in self.unposted_deposits]
                    posted = await loop.run_in_executor(None, self.deposit_status, pairs)
                    keep = []
                    for item in self.unposted_deposits:
                        if (item[0], item[1]) in posted:
                            item[2].unposted -= item[3]
                        else:
                            keep.append(item)
                    self.unposted_deposits = keep
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a database hiccup: try again next round
                log.exception("simulator helper failed")


# --- Django side: setting up, posting, verifying --------------------------------------------


def _key_file_terminals(paths: list[Path]) -> dict[int, bytes]:
    out = {}
    for path in paths:
        if path and path.exists():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0].isdigit():
                    try:
                        out[int(parts[0])] = bytes.fromhex(parts[1])
                    except ValueError:
                        continue
    return out


def terminals_setup(*, count: int, actor, key_files: list[Path], save_to: Path | None) -> list[TerminalSpec]:
    """`count` terminals across merchant kinds: those of the key files that are active, assigned
    and whose key still holds; new ones registered (terminal_add) for the kinds still short."""
    from django.db.models import Max

    from merchants.selectors import merchants_active
    from merchants.services import merchant_create
    from terminals.models import Assignment, Batch, Terminal
    from terminals.services import terminal_add

    want = {kind: int(count * share) for kind, share in KIND_SHARE.items()}
    if count >= 2:
        want[K.TOPUP] = max(1, want[K.TOPUP])
    want[K.DINING] += count - sum(want.values())
    known = _key_file_terminals(key_files)
    kinds = dict(
        Assignment.objects.filter(terminal_id__in=known, valid_to__isnull=True, terminal__status="active",
                                  merchant__status="active").values_list("terminal_id", "merchant__kind")
    )
    stored_keys = dict(Terminal.objects.filter(pk__in=kinds).values_list("pk", "key"))
    specs: list[TerminalSpec] = []
    for tid in sorted(kinds):
        kind = K(kinds[tid])
        if want.get(kind, 0) > 0 and bytes(stored_keys[tid]) == known[tid]:
            specs.append(TerminalSpec(tid, known[tid], kind))
            want[kind] -= 1
    new_lines = []
    for kind, n in want.items():
        if n <= 0:
            continue
        merchant = merchants_active().filter(kind=kind).order_by("pk").first()
        if merchant is None:
            merchant = merchant_create(actor=actor, code=f"SIM{int(kind)}", name=f"模拟商户 {KIND_NAMES[kind]}",
                                       kind=kind)
        for _ in range(n):
            terminal, key = terminal_add(actor=actor, merchant=merchant, location="simulator")
            specs.append(TerminalSpec(terminal.pk, key, kind))
            new_lines.append(f"{terminal.pk} {key.hex()} {merchant.code}")
    if new_lines and save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        with save_to.open("a") as f:  # keys are shown once: keep them for the next run
            f.write("\n".join(new_lines) + "\n")
    state = {t.pk: t for t in Terminal.objects.filter(pk__in=[s.terminal_id for s in specs])}
    last_batch = dict(
        Batch.objects.filter(terminal_id__in=state).values("terminal_id").annotate(m=Max("batch_no"))
        .values_list("terminal_id", "m")
    )
    for s in specs:  # a real terminal keeps its numbers across restarts
        t = state[s.terminal_id]
        s.term_seq = max(t.ack_upto, t.last_seq)
        s.batch_no = last_batch.get(s.terminal_id) or 0
    return specs


def cards_setup(*, count: int, card_nos=None) -> list[VirtualCard]:
    """`count` active cards (one per purse), those with money first, as the host last saw them."""
    from accounts.selectors import cards_purse_state

    rows = cards_purse_state(card_nos=card_nos, active_only=True, limit=count)
    return [
        VirtualCard(card_no=r["card_no"], card_type=r["card_type"], counter=r["card_counter"],
                    balance=r["card_balance"], offset=r["balance"] - r["pending"] - r["card_balance"])
        for r in rows
    ]


def operator_setup(operator=None):
    """The cashier whose user id goes into cash DEPOSIT records (cash accounts are per staff user)."""
    from accounts.services import cash_account_for
    from accounts.setup import role_group

    if operator is None:
        operator = role_group("cash_operator").user_set.filter(is_active=True).order_by("pk").first()
    if operator is None:
        raise ValueError("No cash top-up operator exists: create one (role cash_operator) or pass --operator.")
    cash_account_for(operator)  # posting looks the account up by operator_no
    return operator


def deposits_posted(pairs) -> set[tuple[int, int]]:
    """Which (terminal_id, term_seq) records are posted."""
    from django.db import connections

    from terminals.models import Record

    try:
        by_terminal = defaultdict(list)
        for t, s in pairs:
            by_terminal[t].append(s)
        out = set()
        for t, seqs in by_terminal.items():
            out |= set(Record.objects.filter(terminal_id=t, term_seq__in=seqs, status__in=["posted", "held"])
                       .values_list("terminal_id", "term_seq"))
        return out
    finally:
        connections.close_all()  # an executor thread: leave no connection behind


def post_waiting(terminal_ids=None) -> int:
    """Stand in for the Celery worker: post every batch committed and not posted yet."""
    from django.db import connections

    from terminals.ingest.posting import batch_post
    from terminals.models import Batch

    try:
        qs = Batch.objects.filter(posted_at__isnull=True)
        if terminal_ids is not None:
            qs = qs.filter(terminal_id__in=list(terminal_ids))
        ids = list(qs.order_by("pk").values_list("pk", flat=True))
        for batch_id in ids:
            batch_post(batch_id)
        return len(ids)
    finally:
        connections.close_all()


@dataclass
class Verification:
    acked: int = 0
    missing: list = field(default_factory=list)  # (terminal, term_seq) acknowledged, not stored
    differing: list = field(default_factory=list)  # stored bytes differ from what was sent
    unposted_batches: int = 0
    purse_mismatches: list = field(default_factory=list)
    ledger_problems: list = field(default_factory=list)
    record_problems: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.differing or self.unposted_batches or self.purse_mismatches
                    or self.ledger_problems)

    def summary(self) -> list[str]:
        return [
            f"verify            {'OK' if self.ok else 'FAILED'}: {self.acked} acknowledged records checked, "
            f"missing {len(self.missing)}, differing {len(self.differing)}, unposted batches {self.unposted_batches}, "
            f"purse mismatches {len(self.purse_mismatches)}, ledger problems {len(self.ledger_problems)}",
            f"record problems   {dict(self.record_problems) or 'none'}",
            *[f"  purse mismatch {m}" for m in self.purse_mismatches[:10]],
            *[f"  missing {m}" for m in self.missing[:10]],
            *[f"  ledger {m}" for m in self.ledger_problems[:10]],
        ]


def verify(sim: Simulation, *, wait_posted: float = 60.0, post_inline: bool = False) -> Verification:
    """Every acknowledged record is stored, once, byte for byte; once posting has finished each
    card's purse equals its virtual card (counter, card balance and account balance); the ledger
    balances."""
    from accounts.ledger import ledger_check
    from accounts.selectors import cards_purse_state
    from terminals.models import Batch, Record

    v = Verification()
    for term in sim.terminals:
        acked = [s for s in term.made if s <= term.vt.ack_upto]
        v.acked += len(acked)
        stored = {}
        for i in range(0, len(acked), 5000):
            part = acked[i:i + 5000]
            stored.update(Record.objects.filter(terminal_id=term.spec.terminal_id, term_seq__in=part)
                          .values_list("term_seq", "raw"))
        for s in acked:
            if s not in stored:
                v.missing.append((term.spec.terminal_id, s))
            elif bytes(stored[s]) != term.made[s]:
                v.differing.append((term.spec.terminal_id, s))
    tids = [t.spec.terminal_id for t in sim.terminals]
    deadline = time.monotonic() + wait_posted
    while True:
        if post_inline:
            post_waiting(tids)
        v.unposted_batches = Batch.objects.filter(terminal_id__in=tids, posted_at__isnull=True).count()
        if not v.unposted_batches or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    first_seq = {t.spec.terminal_id: t.spec.term_seq for t in sim.terminals}
    for tid, seq, problems in (Record.objects.filter(terminal_id__in=tids).exclude(problems=[])
                               .values_list("terminal_id", "term_seq", "problems")):
        if seq > first_seq[tid]:
            v.record_problems.update(problems)
    host = {r["card_no"]: r for r in cards_purse_state(card_nos=[c.card_no for c in sim.cards])}
    for c in sim.cards:
        h = host[c.card_no]
        if (h["card_counter"], h["card_balance"], h["balance"] - h["pending"]) != (c.counter, c.balance,
                                                                                  c.balance + c.offset):
            v.purse_mismatches.append(
                f"card {c.card_no}: host counter {h['card_counter']} card balance {h['card_balance']} "
                f"account {h['balance']} pending {h['pending']}; virtual counter {c.counter} balance {c.balance}")
    v.ledger_problems = ledger_check()
    return v
