"""bench/block: the block list at size, through the real TCP gateway (a subprocess).

1. A full list of 100,000 blocked cards paged to a terminal that holds nothing: time and frames,
   with "as many as fit" pages (max_entries 0) and with small pages of 1,000.
2. N connected terminals (1,000; --quick 100) and kiosk loss reports
   (accounts.services.card_report_loss(channel="kiosk")): time from the report to each terminal
   receiving the 0xA0 push with the card in it. Target: p99 under 1 s.
Yardstick in the same run: raw COPY of 100,000 40-byte rows, and PostgreSQL's own NOTIFY latency.

    .venv/bin/python bench/block/run.py [--quick] [--terminals N] [--reports K]"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import common  # noqa: E402

LIST_SIZE = 100_000
TERMINALS_IN_FIXTURE = 1000
REPORT_CARDS = 20


def build_fixture():
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts import services as acc
    from accounts.models import Category, Unit
    from merchants.models import MerchantKind
    from merchants.services import merchant_create
    from terminals.services import terminal_add

    admin = get_user_model().objects.create_superuser("benchadmin", password="bench-only-pw")
    merchant = merchant_create(actor=admin, code="BENCH-S", name="压测超市", kind=MerchantKind.RETAIL)
    for _ in range(TERMINALS_IN_FIXTURE):
        terminal_add(actor=admin, merchant=merchant)
    unit, _ = Unit.objects.get_or_create(code="BENCH", defaults={"name": "压测单位"})
    for i in range(REPORT_CARDS):
        holder = acc.holder_create(actor=admin, number=f"B{i:06d}", name=f"压测{i}", category=Category.UNDERGRADUATE,
                                   unit=unit, start_date=dt.date(2025, 9, 1), end_date=dt.date(2029, 6, 30),
                                   id_number=f"11010120000101{i:04d}")
        acc.card_issue_formal(actor=admin, holder=holder)
    # Bench data only: a list of 100,000 old loss reports, written in one statement (the service
    # appends one entry per transaction, which would take minutes to build and adds nothing here).
    with connection.cursor() as cur:
        cur.execute("""INSERT INTO accounts_blocklistentry (card_no, op, reason, at)
                       SELECT 90000000 + g, 1, 'lost', now() FROM generate_series(1, %s) g""", [LIST_SIZE])


async def full_list(port: int, tid: int, key: bytes, max_entries: int):
    from terminals import wire as P
    from terminals.wire.client import VirtualTerminal

    vt = VirtualTerminal(terminal_id=tid, key=key)
    await vt.connect("127.0.0.1", port)
    frames, t = 0, time.perf_counter()
    while True:
        delta = await vt.request(P.MsgType.BLOCKLIST_REQ,
                                 P.BlocklistReq(have_version=vt.blocklist_version, max_entries=max_entries).encode())
        frames += 1
        vt._apply(delta)
        if not delta.more:
            break
    await vt.request(P.MsgType.BLOCKLIST_APPLIED, P.BlocklistApplied(version=vt.blocklist_version).encode())
    elapsed = time.perf_counter() - t
    await vt.close()
    return elapsed, frames, len(vt.blocked)


class Fleet:
    """N virtual terminals on an event loop in a thread, signed in at the current version."""

    def __init__(self, port, terms, version):
        from terminals.wire.client import VirtualTerminal

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.vts = [VirtualTerminal(terminal_id=t, key=k, blocklist_version=version) for t, k in terms]
        self.port = port

    def run(self, coro, timeout=120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def connect_all(self):
        sem = asyncio.Semaphore(100)

        async def one(vt):
            async with sem:
                await vt.connect("127.0.0.1", self.port)

        await asyncio.gather(*(one(vt) for vt in self.vts))

    async def confirm_all(self):
        from terminals import wire as P

        await asyncio.gather(*(vt.request(P.MsgType.BLOCKLIST_APPLIED,
                                          P.BlocklistApplied(version=vt.blocklist_version).encode()) for vt in self.vts))

    async def close_all(self):
        await asyncio.gather(*(vt.close() for vt in self.vts))


def notify_latency(n: int = 20) -> list[float]:
    """PostgreSQL alone: NOTIFY committed on one connection, received by a LISTENer on another."""
    import select

    import psycopg2

    listener, notifier = psycopg2.connect(common.URL), psycopg2.connect(common.URL)
    listener.autocommit = notifier.autocommit = True
    listener.cursor().execute("LISTEN bench_yardstick")
    out = []
    for _ in range(n):
        t = time.perf_counter()
        notifier.cursor().execute("NOTIFY bench_yardstick")
        while not listener.notifies:
            select.select([listener], [], [], 1.0)
            listener.poll()
        out.append(time.perf_counter() - t)
        listener.notifies.clear()
    listener.close()
    notifier.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--terminals", type=int)
    ap.add_argument("--reports", type=int, default=10)
    args = ap.parse_args()
    n = args.terminals or (100 if args.quick else 1000)
    common.database("block", build_fixture)

    from django.db import connections

    from accounts.selectors import blocklist_version, card_get, cards_purse_state
    from accounts.services import card_report_loss
    from terminals.models import Terminal

    terms = [(t, bytes(k)) for t, k in Terminal.objects.order_by("pk").values_list("pk", "key")[:n]]
    cards = [c["card_no"] for c in cards_purse_state(active_only=True)][:args.reports]
    version = blocklist_version()
    connections.close_all()
    port = common.free_port()
    gw = common.gateway(port)
    try:
        big = asyncio.run(full_list(port, terms[0][0], terms[0][1], 0))
        small = asyncio.run(full_list(port, terms[1][0], terms[1][1], 1000))
        fleet = Fleet(port, terms, version)
        t = time.perf_counter()
        fleet.run(fleet.connect_all())
        connect_s = time.perf_counter() - t
        rss_connected = gw.rss_mb()
        latencies, missed = [], 0
        for card_no in cards:
            seen = [len(vt.pushes) for vt in fleet.vts]
            card = card_get(card_no=card_no)
            t_report = time.monotonic()
            card_report_loss(card=card, channel="kiosk", reason="bench: lost")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if all(any(card_no in {e[0] for e in d.entries} for _, d in vt.pushes[s:])
                       for vt, s in zip(fleet.vts, seen, strict=True)):
                    break
                time.sleep(0.01)
            for vt, s in zip(fleet.vts, seen, strict=True):
                got = [at for at, d in vt.pushes[s:] if card_no in {e[0] for e in d.entries}]
                if got:
                    latencies.append(got[0] - t_report)
                else:
                    missed += 1
            fleet.run(fleet.confirm_all())
        lag = Terminal.objects.filter(pk__in=[t for t, _ in terms]).exclude(blocklist_version=blocklist_version()).count()
        fleet.run(fleet.close_all())
    finally:
        gw.stop()
    connections.close_all()
    copy_s = common.copy_yardstick(LIST_SIZE)
    notify = notify_latency()
    p = common.percentile
    lines = [
        f"full list of {big[2]:,} blocked cards to one terminal, as many per page as fit: {big[0]:.2f} s, "
        f"{big[1]} BLOCKLIST_REQ/0xA0 exchanges",
        f"the same list in pages of 1,000 entries: {small[0]:.2f} s, {small[1]} exchanges ({small[2]:,} cards)",
        f"{n} terminals connected and signed in in {connect_s:.1f} s; gateway RSS {rss_connected:.0f} MB",
        f"loss report (kiosk) → 0xA0 push received, {len(cards)} reports × {n} terminals = {len(latencies):,} pushes, "
        f"missed {missed}:",
        f"  p50 {p(latencies, 50) * 1e3:.0f} ms   p95 {p(latencies, 95) * 1e3:.0f} ms   p99 {p(latencies, 99) * 1e3:.0f} ms"
        f"   max {max(latencies, default=0) * 1e3:.0f} ms   (target p99 < 1000 ms)",
        f"terminals whose confirmed version lags the host after the run: {lag}",
        f"yardstick: raw COPY of {LIST_SIZE:,} rows of 40 bytes {copy_s:.2f} s = {LIST_SIZE / copy_s:,.0f} rows/s "
        f"(full-list paging / COPY = {copy_s / big[0]:.3f}); PostgreSQL NOTIFY→LISTEN alone p50 "
        f"{p(notify, 50) * 1e3:.2f} ms, max {max(notify) * 1e3:.2f} ms",
    ]
    common.write_results("block", "bench/block: a 100,000-card block list, and loss-report pushes", lines, sys.argv[1:])


if __name__ == "__main__":
    main()
