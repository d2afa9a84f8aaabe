"""The TCP gateway: asyncio, one task per connection, database work in a thread pool.

What is TCP's own: per frame, read the 14-byte header; an unknown terminal gets NACK 3 (zero
MAC) whatever else is wrong; an oversize body_len gets NACK 7 before the body is read (with
timeouts on both reads); then the frame handler (``handler``: CRC, MAC, status, body, the
request or the intake) decides, and this module writes its frames. Any NACK for a bad frame
closes the connection; one terminal per connection, the latest SIGN_IN wins; a cap on open
connections. BATCH_ACK is written only after the intake has committed; the posting task (for
what the intake could not post itself) is enqueued afterwards, off the event loop, so the ACK
never waits on the broker.

Group commit: a TXN_BATCH is not decoded into objects; its body joins the batches waiting from
other terminals, and GroupCommit stores and posts them together (``handler.intake`` →
terminals.ingest.intake.batches_intake: one COPY, one statement set, one commit). Each terminal
is answered after that commit.

Block-list pushes: a thread LISTENs on PostgreSQL's 'blocklist' channel (pg_notify fires at
commit) and the loop sends each connected terminal the changes since the version it last said
it holds.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from .. import host
from .. import wire as P
from ..ingest.intake import BatchIn, IntakeResult
from ..tasks import batch_post_enqueue
from . import handler

log = logging.getLogger("campuscard.gateway")

IDLE_TIMEOUT = 90.0  # three missed heartbeats
FRAME_TIMEOUT = 15.0  # a started frame must complete (slowloris); also the first frame's wait
INFO_TTL = 2.0  # seconds a terminal's key and status are taken from the cache
MAX_CONNECTIONS = 20_000  # file descriptors and memory stay bounded whatever connects


GROUP_RECORDS = 25_000  # records in one group commit at most
GROUP_PARALLEL = 3  # group commits in flight: on 2 cores a third keeps both busy while one waits for its fsync
# While batches are arriving and a group is in flight, a free slot waits up to this long for more
# than a group's worth to gather, rather than taking the two or three batches that came first.
GROUP_LINGER = 0.02
# Once nothing has arrived for GROUP_LINGER, what waits is shared among the slots (a group takes a
# third of it, at least this many records), so that the last groups end together.
GROUP_FLOOR = 5_000


class GroupCommit:
    """Batches waiting for the database, from many terminals, committed together.

    Whatever arrives while GROUP_PARALLEL commits are in flight waits and goes into the next
    group, so the group grows with the load and a lone batch is committed at once. A group holds
    one batch per terminal (a terminal's next batch waits for the next group). If a group fails,
    its batches are tried one by one, so one batch the database refuses does not refuse the others.

    When many terminals send at once (bench/ingest: 1,000 batches within ~0.1 s), the first three
    batches used to take the three slots as lone groups; the big groups started only when those
    ended, ~0.13 s later (the event loop reading the other frames holds the GIL that the lone
    groups' threads wait for between statements). And at the end one group often ran alone on one
    core. Both are what GROUP_LINGER and GROUP_FLOOR are for: ACK p99 ~4 % lower, 5 of 5
    alternating runs (bench/ingest/RESULTS.md, 2026-12-07)."""

    def __init__(self, gateway: Gateway, *, max_records: int = GROUP_RECORDS, parallel: int = GROUP_PARALLEL,
                 linger: float = GROUP_LINGER, floor: int = GROUP_FLOOR):
        self.gateway, self.max_records, self.parallel = gateway, max_records, parallel
        self.linger, self.floor = linger, floor
        self.pending: list[tuple[BatchIn, asyncio.Future]] = []
        self.waiting = 0  # records in pending
        self.running = 0
        self.groups = 0
        self.last_arrival = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._lingered = False

    @staticmethod
    def _records(item: BatchIn) -> int:
        return (len(item.body) - 6) // P.RECORD_LEN

    async def submit(self, item: BatchIn) -> IntakeResult:
        fut = self.gateway.loop.create_future()
        self.pending.append((item, fut))
        self.waiting += self._records(item)
        self.last_arrival = self.gateway.loop.time()
        self._start()
        return await fut

    def _linger_over(self):
        self._timer, self._lingered = None, True
        self._start()

    def _start(self):
        while self.pending and self.running < self.parallel:
            arriving = self.gateway.loop.time() - self.last_arrival < self.linger
            if self.running and arriving and self.waiting < self.max_records and not self._lingered:
                if self._timer is None:
                    self._timer = self.gateway.loop.call_later(self.linger, self._linger_over)
                return
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._lingered = False
            cap = (self.max_records if arriving
                   else min(self.max_records, max(self.floor, -(-self.waiting // self.parallel))))
            group, rest, seen, n, left = [], [], set(), 0, 0
            for item, fut in self.pending:
                size = self._records(item)
                if fut.done() or item.terminal_id in seen or (group and n + size > cap):
                    if not fut.done():
                        rest.append((item, fut))
                        left += size
                    continue
                seen.add(item.terminal_id)
                group.append((item, fut))
                n += size
            self.pending, self.waiting = rest, left
            if not group:
                return
            self.running += 1
            self.groups += 1
            asyncio.ensure_future(self._commit(group))

    async def _commit(self, group):
        try:
            try:
                results = await self.gateway.db(handler.intake, [item for item, _ in group])
                for (_, fut), result in zip(group, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
            except Exception:
                if len(group) == 1:
                    raise
                log.exception("group commit of %d batches failed; trying them one by one", len(group))
                for item, fut in group:
                    try:
                        result = (await self.gateway.db(handler.intake, [item]))[0]
                        if not fut.done():
                            fut.set_result(result)
                    except Exception as exc:  # noqa: BLE001 - this terminal gets BUSY and resends
                        if not fut.done():
                            fut.set_exception(exc)
        except Exception as exc:  # noqa: BLE001
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(exc)
        finally:
            self.running -= 1
            self._start()


class Connection:
    def __init__(self, gateway: Gateway, reader, writer):
        self.gateway, self.reader, self.writer = gateway, reader, writer
        self.session: host.Session | None = None
        self.closed = False
        self.peer = writer.get_extra_info("peername")

    def send(self, msg_type: int, msg_seq: int, body):
        """A host-initiated frame (a push) to this connection's terminal, under its session's key."""
        payload = body if isinstance(body, bytes | bytearray) else body.encode()
        self.writer.write(P.encode_frame(msg_type, self.session.terminal_id, msg_seq, payload, self.session.key))

    def close(self):
        if not self.closed:
            self.closed = True
            self.writer.close()

    async def write(self, outcome: handler.Outcome) -> bool:
        """Write the handler's frames; close after a NACK that ends the connection. Returns
        whether the connection stays up."""
        for frame in outcome.frames:
            self.writer.write(frame)
        if outcome.close:
            try:
                await asyncio.wait_for(self.writer.drain(), 5)
            except (TimeoutError, ConnectionError):
                pass
            self.close()
            return False
        await self.writer.drain()  # back-pressure: a slow reader slows only its own task
        return True


class Gateway:
    def __init__(self, *, threads: int = 8, frame_timeout: float = FRAME_TIMEOUT, idle_timeout: float = IDLE_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS):
        self.frame_timeout, self.idle_timeout, self.max_connections = frame_timeout, idle_timeout, max_connections
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gw-db")
        self.enqueue_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gw-enqueue")
        self.connections: dict[int, Connection] = {}
        self.server: asyncio.base_events.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._listener_stop = threading.Event()
        # Written to by stop(), so the listener's select wakes at once, not after its second.
        self._listener_wake = socket.socketpair()
        self.stats = {"frames": 0, "batches": 0, "nacks": 0, "pushes": 0, "refused": 0}
        self.open_connections = 0
        self._info: dict[int, tuple[float, object]] = {}
        self.intake = GroupCommit(self)

    async def terminal_info(self, terminal_id: int):
        """Key and status of a terminal, cached for a moment: every frame needs them, and a flood
        of frames (or of unknown ids) must not turn into a flood of queries. A disabled terminal
        or a rotated key takes effect within INFO_TTL."""
        now = time.monotonic()
        hit = self._info.get(terminal_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        info = await self.db(handler.terminal_info, terminal_id)
        if len(self._info) > 100_000:
            self._info.clear()  # bounded memory whatever ids arrive
        self._info[terminal_id] = (now + INFO_TTL, info)
        return info

    async def db(self, fn, *args, **kwargs):
        return await self.loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    async def start(self, host_addr: str, port: int):
        self.loop = asyncio.get_running_loop()
        await self._prepare_threads()
        self.server = await asyncio.start_server(self.handle, host_addr, port, limit=2**17, backlog=4096)
        self.listener = threading.Thread(target=self._listen_blocklist, name="gw-listen", daemon=True)
        self.listener.start()
        return self.server

    async def _prepare_threads(self):
        """Every database thread connects and creates its staging tables before the first terminal
        comes (a barrier holds each task until all threads have one). A database that is down now
        only delays this to the first batch."""
        n = self.executor._max_workers
        barrier = threading.Barrier(n, timeout=10)

        def prepare():
            try:
                handler.prepare()
            except Exception:  # noqa: BLE001 - the intake connects again when a batch comes
                log.warning("gateway: database thread not prepared", exc_info=True)
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass

        await asyncio.gather(*(self.loop.run_in_executor(self.executor, prepare) for _ in range(n)))

    def stop(self):
        self._listener_stop.set()
        try:
            self._listener_wake[1].send(b"\0")
        except OSError:
            pass
        if self.server:
            self.server.close()
        for conn in list(self.connections.values()):
            conn.close()

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    async def handle(self, reader, writer):
        if self.open_connections >= self.max_connections:
            writer.close()  # beyond capacity: refuse at once rather than slow everyone down
            self.stats["refused"] += 1
            return
        self.open_connections += 1
        try:
            await self._handle(reader, writer)
        finally:
            self.open_connections -= 1

    async def _handle(self, reader, writer):
        conn = Connection(self, reader, writer)
        try:
            while not conn.closed:
                if not await self.serve_frame(conn):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        except Exception:  # noqa: BLE001 - one broken connection must not stop the others
            log.exception("connection %s failed", conn.peer)
        finally:
            if conn.session and self.connections.get(conn.session.terminal_id) is conn:
                del self.connections[conn.session.terminal_id]
            conn.close()

    async def serve_frame(self, conn: Connection) -> bool:
        # A connection that has not signed in gets little time: half-open and slowloris
        # connections cannot pile up; a signed-in terminal may idle between heartbeats.
        wait = self.idle_timeout if conn.session and conn.session.signed_in else self.frame_timeout
        # asyncio.timeout, not wait_for: wait_for wraps the read in a task of its own, ~25 µs a call
        # on the event loop (two a frame), which reads every frame of a burst alone (holding the
        # GIL the database threads wait for); a timeout is one timer handle.
        async with asyncio.timeout(wait):
            header = await conn.reader.readexactly(P.HEADER_LEN)
        self.stats["frames"] += 1
        # terminal_id and msg_seq sit at fixed offsets; read them whatever else is wrong.
        terminal_id, msg_seq = P.header_ids(header)
        info = await self.terminal_info(terminal_id)
        if info is None:
            return await self.answer(conn, handler.nack(P.Nack.UNKNOWN_TERMINAL, terminal_id, msg_seq, None))
        try:
            msg_type, _, _, body_len = P.parse_header(header)
        except P.ProtocolError as exc:
            return await self.answer(conn, handler.nack(exc.code, terminal_id, msg_seq, info.key))
        async with asyncio.timeout(self.frame_timeout):
            rest = await conn.reader.readexactly(body_len + P.TRAILER_LEN)
        raw = header + rest
        bad = handler.check(raw, info)
        if bad is not None:
            return await self.answer(conn, bad)
        if conn.session is not None and conn.session.terminal_id != terminal_id:
            # One terminal per TCP connection (several only on a serial line).
            return await self.answer(conn, handler.nack(P.Nack.MALFORMED, terminal_id, msg_seq, info.key))
        if conn.session is None:
            conn.session = host.Session(terminal_id=terminal_id)
        conn.session.key = info.key
        if msg_type == P.MsgType.TXN_BATCH:
            return await self.serve_batch(conn, raw, info)
        outcome = await self.db(handler.serve_request, conn.session, raw, info.key)
        if outcome.signed_in:
            older = self.connections.get(terminal_id)
            if older is not None and older is not conn:
                older.close()  # a terminal holds one connection at a time
            self.connections[terminal_id] = conn
        return await self.answer(conn, outcome)

    async def serve_batch(self, conn: Connection, raw: bytes, info: handler.TerminalInfo) -> bool:
        item = handler.batch_in(conn.session, raw, info.key)
        if isinstance(item, handler.Outcome):
            return await self.answer(conn, item)
        self.stats["batches"] += 1
        try:
            result = await self.intake.submit(item)
        except Exception:  # noqa: BLE001 - database down, …: the terminal resends later
            log.exception("terminal %s: batch %s failed", item.terminal_id, item.batch_no)
            return await self.answer(conn, handler.nack(P.Nack.BUSY, item.terminal_id, item.msg_seq, info.key))
        return await self.answer(conn, handler.batch_acked(item, result, info.key))  # committed: now ACK

    async def answer(self, conn: Connection, outcome: handler.Outcome) -> bool:
        """Write what the handler decided, then enqueue the posting of what the intake left
        (off the event loop, after the reply). Returns whether the connection stays up."""
        if outcome.nack is not None:
            self.stats["nacks"] += 1
        stays = await conn.write(outcome)
        for batch_id in outcome.post:
            self.loop.run_in_executor(self.enqueue_executor, batch_post_enqueue, batch_id)
        return stays

    # --- block-list push -----------------------------------------------------------------

    def _listen_blocklist(self):
        import psycopg2

        db = settings.DATABASES["default"]
        while not self._listener_stop.is_set():
            try:
                pg = psycopg2.connect(dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None,
                                      host=db["HOST"] or None, port=db["PORT"] or None)
                pg.autocommit = True
                with pg.cursor() as cur:
                    cur.execute("LISTEN blocklist")
                self.loop.call_soon_threadsafe(self._push_blocklist)  # catch up after a reconnect
                while not self._listener_stop.is_set():
                    if pg in select.select([pg, self._listener_wake[0]], [], [], 1.0)[0]:
                        pg.poll()
                        if pg.notifies:
                            pg.notifies.clear()
                            self.loop.call_soon_threadsafe(self._push_blocklist)
                pg.close()
            except Exception:  # noqa: BLE001 - reconnect after a database restart
                log.exception("block-list listener lost its connection; retrying")
                self._listener_stop.wait(1.0)
        for sock in self._listener_wake:
            sock.close()

    def _push_blocklist(self):
        # Not once stopping: the loop may stop before the push's first step, leaving a coroutine
        # that never ran (and its database thread pool may be shut down already).
        if not self._listener_stop.is_set():
            asyncio.ensure_future(self._push_all())

    async def _push_all(self):
        conns = [c for c in self.connections.values() if c.session and c.session.signed_in and not c.closed]
        if not conns:
            return
        deltas: dict[int, object] = {}
        for version in {c.session.blocklist_version for c in conns}:
            deltas[version] = await self.db(host.blocklist_delta, version, 0)
        for conn in conns:
            delta = deltas[conn.session.blocklist_version]
            if not delta.entries and not delta.full:
                continue
            try:
                conn.send(P.MsgType.BLOCKLIST_DELTA, 0, delta)
                self.stats["pushes"] += 1
            except Exception:  # noqa: BLE001
                conn.close()


async def serve(host_addr: str, port: int, *, threads: int = 8, ready: threading.Event | None = None,
                gateway: Gateway | None = None):
    gateway = gateway or Gateway(threads=threads)
    server = await gateway.start(host_addr, port)
    log.info("gateway listening on %s:%s", host_addr, gateway.port)
    if ready is not None:
        ready.set()
    async with server:
        await server.serve_forever()
