"""bench/moneyin: bank transfers (银校通, ISO 8583 over TCP) through the real bank link against the
bank emulator in its own process, sequentially and from concurrent 圈存机 (threads), with and
without faults; then the statement reconciliation of the day.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_bench_moneyin \
        .venv/bin/python bench/moneyin/run.py [transfers] [--threads 8] [--fault-rate 0.1]

Yardstick in the same run: the same number of bare single-row INSERT … COMMITs in PostgreSQL (a
transfer commits three times: the request, the answer with its journal, the audit).
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0] + "/bench")
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_bench_moneyin")
from _setup import ROOT, Clock, django_on_bench_db  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("transfers", nargs="?", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--fault-rate", type=float, default=0.05)
    args = ap.parse_args()
    django_on_bench_db()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts import services
    from accounts.models import Category
    from accounts.timeutil import business_day
    from moneyin.bank_emulator import control
    from moneyin.banklink import bank_transfer
    from moneyin.models import BankTransfer
    from moneyin.reconcile import statement_import

    root = get_user_model().objects.create_user("bench-root", is_staff=True, is_superuser=True)
    holders = []
    for i in range(args.threads * 4):
        h = services.holder_create(actor=root, number=f"B{i:05d}", name=f"持卡人{i}", category=Category.STAFF,
                                   bank_card_no=f"62220200{i:011d}")
        services.card_issue_formal(actor=root, holder=h)
        holders.append(h)

    proc = subprocess.Popen([sys.executable, "-m", "moneyin.bank_emulator", "--port", "0", "--late-delay", "0.5",
                             "--seed", "1"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    host, port = proc.stdout.readline().split()[1].rsplit(":", 1)
    settings.BANK_FRONT, settings.BANK_TIMEOUT = f"{host}:{port}", 0.3
    try:
        def run(n, threads):
            lat, lock = [], threading.Lock()

            def worker(k):
                from django.db import connections

                for j in range(n // threads):
                    t0 = time.perf_counter()
                    bank_transfer(holder=holders[(k * 4 + j) % len(holders)], amount=100 + j % 900)
                    with lock:
                        lat.append(time.perf_counter() - t0)
                connections.close_all()

            clock = Clock()
            ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            return clock.lap(), sorted(lat)

        def show(label, secs, lat):
            q = statistics.quantiles(lat, n=100)
            print(f"{label}: {len(lat)} transfers in {secs:.2f} s = {len(lat) / secs:.0f}/s; "
                  f"latency p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms")

        show("sequential, no faults", *run(args.transfers // 4, 1))
        show(f"{args.threads} terminals at once, no faults", *run(args.transfers, args.threads))
        control((host, int(port)), {"cmd": "fault_rate", "rate": args.fault_rate})
        show(f"{args.threads} terminals at once, fault rate {args.fault_rate}", *run(args.transfers, args.threads))
        counts = {s: BankTransfer.objects.filter(status=s).count() for s in BankTransfer.Status.values}
        print("statuses:", counts)
        csv = control((host, int(port)), {"cmd": "statement", "day": str(business_day())})["csv"]
        clock = Clock()
        st = statement_import(actor=root, day=business_day(), content=csv)
        # Every debit the bank kept was credited once and every credit is one the bank kept.
        print(f"reconciliation: {st.rows} statement rows, {st.matched} matched, {st.differences.count()} differences "
              f"(approved on campus: {counts['approved']}) in {clock.lap():.2f} s")
        n = args.transfers
        with connection.cursor() as cur:
            cur.execute("CREATE TEMP TABLE yard (id bigserial primary key, v bigint)")
        connection.set_autocommit(True)
        clock = Clock()
        with connection.cursor() as cur:
            for i in range(n * 3):
                cur.execute("INSERT INTO yard (v) VALUES (%s)", [i])
        secs = clock.lap()
        print(f"yardstick: {n * 3} single-row INSERT commits in {secs:.2f} s = {n * 3 / secs:.0f}/s "
              f"({n / secs:.0f} transfers' worth of commits per second)")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
