"""Hostile input to the gateways: at least 1,000,000 mutated frames and the bad connection
patterns, while a real terminal keeps heartbeating. Prints the figures; exits non-zero on a crash,
a stored record from a frame that fails CRC or MAC, unbounded memory, or a starved terminal.

    .venv/bin/python bench/fuzz/run.py [--frames 1000000] [--tcp-frames 20000] [--quick]

Where the frames go:
- the serial gateway over a socket:// line (the contract: a bad frame is dropped and the line
  resynchronises, nothing is closed), which is what lets one run push a million frames;
- the TCP gateway, where every bad frame gets a NACK and a closed connection, with new
  connections for each, plus slowloris, half-open, oversize and sign-in floods.
A monitor terminal heartbeats on the TCP gateway all along; its worst reply time is printed.
Only 127.0.0.1 is used. Runs on its own database (BENCH_DATABASE_URL, default cc_bench_fuzz).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_bench_fuzz")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mutate(rnd: random.Random, frame: bytes) -> bytes:
    b = bytearray(frame)
    op = rnd.randrange(6)
    if op == 0:  # flip bits
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
    elif op == 1:  # truncate
        del b[rnd.randrange(1, len(b)):]
    elif op == 2:  # insert garbage
        pos = rnd.randrange(len(b) + 1)
        b[pos:pos] = rnd.randbytes(rnd.randint(1, 20))
    elif op == 3:  # a lying body_len
        b[12:14] = rnd.randrange(65536).to_bytes(2, "big")
    elif op == 4:  # random bytes that start like a frame
        return b"CC" + rnd.randbytes(rnd.randint(0, 120))
    else:  # another type byte
        b[3] = rnd.randrange(256)
    return bytes(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=1_000_000, help="mutated frames on the serial line")
    ap.add_argument("--tcp-frames", type=int, default=20_000, help="mutated frames on TCP, one connection each")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.tcp_frames = 50_000, 2_000

    from _setup import django_on_bench_db

    django_on_bench_db()
    import serial
    from django.contrib.auth import get_user_model
    from django.db import connections

    from accounts import services as acc
    from merchants.models import MerchantKind
    from merchants.services import merchant_create
    from terminals import wire as P
    from terminals.gateways.serial import SerialGateway
    from terminals.gateways.tcp import Gateway
    from terminals.models import Record
    from terminals.services import terminal_add
    from terminals.wire.client import VirtualTerminal
    from tests.factories import HolderFactory

    admin = get_user_model().objects.create_superuser("fuzz", password="x")
    merchant = merchant_create(actor=admin, code="FZ", name="fuzz", kind=MerchantKind.RETAIL)
    (t1, k1), (t2, k2) = terminal_add(actor=admin, merchant=merchant), terminal_add(actor=admin, merchant=merchant)
    card = acc.card_issue_formal(actor=admin, holder=HolderFactory())
    rec = P.Record(term_seq=1, card_no=card.card_no, card_type=1, kind=1, card_counter=0, base_amount=1,
                   balance_before=0, balance_after=0, time=int(time.time()))  # arithmetic off: an exception if stored
    sign_in = P.SignIn(firmware_version=1, blocklist_version=0, params_version=0, last_seq=0, unsent=0, clock=0)
    seeds = [
        P.encode_frame(P.MsgType.SIGN_IN, t1.pk, 1, sign_in, k1),
        P.encode_frame(P.MsgType.TXN_BATCH, t1.pk, 2, P.TxnBatch(batch_no=1, records=[rec] * 3), k1),
        P.encode_frame(P.MsgType.BLOCKLIST_REQ, t1.pk, 3, P.BlocklistReq(have_version=0, max_entries=10), k1),
        P.encode_frame(P.MsgType.PENDING_REQ, t1.pk, 4, P.PendingReq(card_no=card.card_no), k1),
    ]
    rnd = random.Random(20261125)
    failures = []

    def stored_from_valid_only(sent_valid: int):
        n = Record.objects.count()
        if n and not sent_valid:
            failures.append(f"{n} records stored though no sent frame passed CRC and MAC")

    # --- the serial line: a million frames on one stream ---------------------------------------
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    line = SerialGateway(serial.serial_for_url(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout=0.05))
    conn, _ = server.accept()
    serial_thread = threading.Thread(target=line.run_forever, daemon=True)
    serial_thread.start()
    drain_stop = threading.Event()
    replies = bytearray()
    answered = threading.Event()
    # The reply header to the last, good frame (msg_seq 999999): once it is back, the line is done.
    final_reply = b"CC\x01\x81" + t1.pk.to_bytes(4, "big") + (999999).to_bytes(4, "big")

    def drain():
        import select

        while not drain_stop.is_set():  # the socket stays blocking: the sender needs back-pressure
            if not select.select([conn], [], [], 0.2)[0]:
                continue
            data = conn.recv(65536)
            if not data:
                break
            tail = bytes(replies[-32:]) + data
            if final_reply in tail:
                answered.set()
            replies[:] = data[-32:]  # keep memory flat: only the tail is looked at

    threading.Thread(target=drain, daemon=True).start()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    valid = 0
    chunk = bytearray()
    for _ in range(args.frames):
        m = mutate(rnd, seeds[rnd.randrange(len(seeds))])
        if len(m) >= P.HEADER_LEN + P.TRAILER_LEN and P.check_crc(m) and P.check_mac(m, k1):
            valid += 1
        chunk += m
        if len(chunk) > 256 * 1024:
            conn.sendall(chunk)
            chunk.clear()
    # A good frame after all the garbage must still be answered.
    conn.sendall(chunk + bytes(64) + P.encode_frame(P.MsgType.SIGN_IN, t1.pk, 999999, sign_in, k1))
    if not answered.wait(600):
        failures.append("the serial gateway did not answer the good frame after the garbage")
    serial_s = time.perf_counter() - t0
    stats = dict(line.stats)
    dec = dict(line.decoder.stats)
    line.stop()
    drain_stop.set()
    serial_thread.join(5)
    conn.close()
    rss_serial = rss_mb()
    print(f"serial: {args.frames:,} mutated frames ({valid} still valid by chance) consumed in {serial_s:.1f} s "
          f"= {args.frames / serial_s:,.0f} frames/s; gateway answered {stats['frames']} frames, "
          f"decoder skipped {dec.get('skipped_bytes', 0):,} bytes; RSS {rss0:.0f} → {rss_serial:.0f} MB")
    stored_from_valid_only(valid)

    # --- TCP: bad frames, bad connections, and a terminal that must keep being served -------------
    gw = Gateway(threads=4, frame_timeout=2.0)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(gw.start("127.0.0.1", 0))
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)
    port = gw.port
    worst = [0.0]
    monitor_stop = threading.Event()

    def monitor():
        async def go():
            vt = VirtualTerminal(terminal_id=t2.pk, key=k2)
            await vt.connect("127.0.0.1", port)
            while not monitor_stop.is_set():
                t = time.perf_counter()
                await vt.heartbeat()
                worst[0] = max(worst[0], time.perf_counter() - t)
                await asyncio.sleep(0.25)
            await vt.close()

        try:
            asyncio.run(go())
        except Exception as exc:  # noqa: BLE001
            failures.append(f"monitor terminal lost service: {exc!r}")

    mon = threading.Thread(target=monitor, daemon=True)
    mon.start()
    time.sleep(0.5)

    async def hostile():
        sem = asyncio.Semaphore(200)
        tcp_valid = 0

        async def one(data: bytes):
            async with sem:
                try:
                    r, w = await asyncio.open_connection("127.0.0.1", port)
                    w.write(data)
                    await w.drain()
                    w.write_eof()
                    await asyncio.wait_for(r.read(), 5)
                    w.close()
                except (OSError, TimeoutError, asyncio.IncompleteReadError):
                    pass

        frames = []
        for _ in range(args.tcp_frames):
            m = mutate(rnd, seeds[rnd.randrange(len(seeds))])
            if len(m) >= P.HEADER_LEN + P.TRAILER_LEN and P.check_crc(m) and P.check_mac(m, k1):
                tcp_valid += 1
            frames.append(seeds[0] + m)
        t = time.perf_counter()
        await asyncio.gather(*(one(f) for f in frames))
        mutated_s = time.perf_counter() - t

        async def slowloris():
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                for b in seeds[0][:10]:
                    w.write(bytes([b]))
                    await w.drain()
                    await asyncio.sleep(0.5)
                w.close()
            except OSError:
                pass

        async def half_open():
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                await asyncio.sleep(3)
                w.close()
            except OSError:
                pass

        oversize = seeds[0][:12] + (65535).to_bytes(2, "big") + bytes(70000)
        t = time.perf_counter()
        await asyncio.gather(*(slowloris() for _ in range(200)), *(half_open() for _ in range(500)),
                             *(one(oversize) for _ in range(200)), *(one(seeds[0]) for _ in range(2000)))
        patterns_s = time.perf_counter() - t
        return tcp_valid, mutated_s, patterns_s

    tcp_valid, mutated_s, patterns_s = asyncio.run(hostile())
    monitor_stop.set()
    mon.join(10)
    rss_end = rss_mb()
    print(f"tcp: {args.tcp_frames:,} mutated frames on as many connections in {mutated_s:.1f} s "
          f"({args.tcp_frames / mutated_s:,.0f}/s); 200 slowloris + 500 half-open + 200 oversize + 2,000 sign-in "
          f"flood in {patterns_s:.1f} s; gateway stats {gw.stats}")
    print(f"monitor terminal: worst heartbeat reply {worst[0] * 1000:.0f} ms; RSS at end {rss_end:.0f} MB")
    stored_from_valid_only(valid + tcp_valid)
    if worst[0] > 5:
        failures.append(f"monitor heartbeat took {worst[0]:.1f} s")
    loop.call_soon_threadsafe(gw.stop)
    connections.close_all()
    total = args.frames + args.tcp_frames
    print(f"total mutated frames: {total:,}; failures: {failures or 'none'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
