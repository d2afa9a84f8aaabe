"""bench/connections: thousands of idle terminals on one gateway process, heartbeating as the
contract says (every 30 s at most while idle). Figures: the gateway's memory (RSS before, with
every terminal connected, peak) and CPU, heartbeat latency p50/p95/p99. Yardstick in the same
run: the same number of single-row UPDATEs of the terminal row straight to PostgreSQL (what a
heartbeat must at least do), and a raw COPY of as many 40-byte rows.

    .venv/bin/python bench/connections/run.py [--quick] [--terminals N] [--seconds S] [--period P]

Default 5,000 terminals, heartbeats every 30 s for 75 s; --quick 500 terminals, every 10 s for 20 s."""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import common  # noqa: E402

TERMINALS_IN_FIXTURE = 5000


def build_fixture():
    from django.contrib.auth import get_user_model

    from merchants.models import MerchantKind
    from merchants.services import merchant_create
    from terminals.services import terminal_add

    admin = get_user_model().objects.create_superuser("benchadmin", password="bench-only-pw")
    merchant = merchant_create(actor=admin, code="BENCH-W", name="压测浴室", kind=MerchantKind.WATER)
    for _ in range(TERMINALS_IN_FIXTURE):
        terminal_add(actor=admin, merchant=merchant)


def _vm(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


async def fleet(port: int, terms, seconds: float, period: float, gw, out: dict):
    from terminals.wire.client import VirtualTerminal

    vts = [VirtualTerminal(terminal_id=t, key=k) for t, k in terms]
    sem = asyncio.Semaphore(200)

    async def connect(vt):
        async with sem:
            await vt.connect("127.0.0.1", port)

    t = time.perf_counter()
    await asyncio.gather(*(connect(vt) for vt in vts))
    out["connect_s"] = time.perf_counter() - t
    await asyncio.sleep(1)
    out["rss_connected"] = gw.rss_mb()
    latencies, failures = [], [0]
    rng = random.Random(5)
    cpu0, t0 = gw.cpu_s(), time.perf_counter()
    end = t0 + seconds

    async def beat(vt):
        await asyncio.sleep(rng.uniform(0, period))
        while time.perf_counter() < end:
            t = time.perf_counter()
            try:
                await vt.heartbeat()
                latencies.append(time.perf_counter() - t)
            except Exception:  # noqa: BLE001 - counted
                failures[0] += 1
                return
            await asyncio.sleep(max(0.0, period - (time.perf_counter() - t)))

    await asyncio.gather(*(beat(vt) for vt in vts))
    wall = time.perf_counter() - t0
    out.update(cpu_s=gw.cpu_s() - cpu0, wall=wall, latencies=latencies, failures=failures[0],
               rss_end=gw.rss_mb(), rss_peak=_vm(gw.pid, "VmHWM"), connected=len(gw_connections(gw, port)))
    await asyncio.gather(*(vt.close() for vt in vts))


def gw_connections(gw, port: int) -> list:
    """The gateway process's established terminal connections (from /proc), to confirm none dropped."""
    import os

    inodes = set()
    for fd in os.listdir(f"/proc/{gw.pid}/fd"):
        try:
            target = os.readlink(f"/proc/{gw.pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for line in Path(f"/proc/{gw.pid}/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "01" and parts[9] in inodes and int(parts[1].split(":")[1], 16) == port:  # ESTABLISHED
            out.append(parts[9])
    return out


def update_yardstick(n: int, ids: list[int]) -> tuple[float, list[float]]:
    import psycopg2

    conn = psycopg2.connect(common.URL)
    conn.autocommit = True
    cur = conn.cursor()
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        cur.execute("UPDATE terminals_terminal SET last_seen_at = now() WHERE id = %s", [ids[i % len(ids)]])
        lat.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed, lat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--terminals", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--period", type=float)
    args = ap.parse_args()
    n = args.terminals or (500 if args.quick else 5000)
    seconds = args.seconds or (20 if args.quick else 75)
    period = args.period or (10 if args.quick else 30)
    common.database("connections", build_fixture)

    from django.db import connections

    from terminals.models import Terminal

    terms = [(t, bytes(k)) for t, k in Terminal.objects.order_by("pk").values_list("pk", "key")[:n]]
    connections.close_all()
    port = common.free_port()
    gw = common.gateway(port)
    out: dict = {}
    try:
        time.sleep(1)
        rss_base = gw.rss_mb()
        asyncio.run(fleet(port, terms, seconds, period, gw, out))
    finally:
        gw.stop()
    lat = out["latencies"]
    beats = len(lat)
    upd_s, upd_lat = update_yardstick(beats, [t for t, _ in terms])
    copy_s = common.copy_yardstick(n)
    connections.close_all()
    p = common.percentile
    per_conn_kb = (out["rss_connected"] - rss_base) * 1024 / n
    lines = [
        f"{n:,} terminals on one gateway process (8 database threads); connected and signed in in {out['connect_s']:.1f} s; "
        f"{out['connected']:,} connections still established at the end; heartbeat failures {out['failures']}",
        f"gateway memory: RSS {rss_base:.0f} MB idle, {out['rss_connected']:.0f} MB with every terminal signed in "
        f"({per_conn_kb:.1f} KB per connection), {out['rss_end']:.0f} MB at the end, peak {out['rss_peak']:.0f} MB",
        f"heartbeats every {period:.0f} s for {out['wall']:.0f} s: {beats:,} heartbeats = {beats / out['wall']:,.0f}/s; "
        f"gateway CPU {out['cpu_s']:.1f} s = {out['cpu_s'] / out['wall'] * 100:.0f}% of one core",
        f"heartbeat latency  p50 {p(lat, 50) * 1e3:.1f} ms   p95 {p(lat, 95) * 1e3:.1f} ms   p99 {p(lat, 99) * 1e3:.1f} ms"
        f"   max {max(lat, default=0) * 1e3:.1f} ms",
        f"yardstick: {beats:,} single-row UPDATEs of the terminal row straight to PostgreSQL, one connection: "
        f"{upd_s:.2f} s = {beats / upd_s:,.0f}/s, p50 {p(upd_lat, 50) * 1e3:.2f} ms, p99 {p(upd_lat, 99) * 1e3:.2f} ms; "
        f"raw COPY of {n:,} 40-byte rows {copy_s * 1e3:.0f} ms",
        f"heartbeat p50 / raw UPDATE p50 = {p(lat, 50) / max(p(upd_lat, 50), 1e-9):.1f}×",
    ]
    common.write_results("connections", "bench/connections: thousands of idle, heartbeating terminals on one gateway",
                         lines, sys.argv[1:])


if __name__ == "__main__":
    main()
