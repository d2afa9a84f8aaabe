"""Where a group commit's time goes: the bench fixture, the bench's records, batches_intake
called directly in groups of GROUP_RECORDS, and the time of every SQL statement summed by its
first words. No gateway, no Celery: the figure is the database's share of the intake.

    .venv/bin/python bench/ingest/profile.py [--terminals 1000 --records 200 --group 125]"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--terminals", type=int, default=1000)
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--group", type=int, default=125, help="terminals per group commit")
    ap.add_argument("--explain", default="", help="print EXPLAIN ANALYZE of a statement starting so")
    ap.add_argument("--nth", type=int, default=1, help="… of its nth call")
    ap.add_argument("--history", type=int, default=0, help="posted purchases per card before (run.py --history)")
    ap.add_argument("--cards", type=int, default=run.CARDS_PER_TERMINAL, help="cards a terminal (run.py --cards)")
    args = ap.parse_args()
    run.fixture(args.history)
    from django.db import connection

    from terminals.ingest.intake import batches_intake

    rounds = run.batch_rounds(args.terminals, args.records, cards=args.cards)
    spent = defaultdict(float)
    calls = defaultdict(int)

    matched = 0  # calls of the statement to explain so far

    def timer(execute, sql, params, many, context):
        nonlocal matched
        t = time.perf_counter()
        if args.explain and " ".join(sql.split()).startswith(args.explain):
            matched += 1
            if matched == args.nth:  # EXPLAIN ANALYZE runs it in a savepoint rolled back, then it runs
                cur = context["cursor"]
                cur.execute("SAVEPOINT explain")
                cur.execute("EXPLAIN (ANALYZE, BUFFERS, VERBOSE) " + sql, params)
                print("\n".join(r[0] for r in cur.fetchall()))
                cur.execute("ROLLBACK TO SAVEPOINT explain")
                t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = " ".join(sql.split()[:6])[:70]
            spent[key] += time.perf_counter() - t
            calls[key] += 1

    from terminals.ingest import intake

    def timed(name, fn):
        """fn, its time summed under name (what execute_wrapper does not see: COPY, commit)."""
        def call(*args):
            t = time.perf_counter()
            try:
                return fn(*args)
            finally:
                spent[name(*args)] += time.perf_counter() - t
                calls[name(*args)] += 1
        return call

    intake._copy = timed(lambda cur, sql, buf: " ".join(sql.split()[:2]) + " (binary)", intake._copy)
    connection.ensure_connection()
    connection._commit = timed(lambda: "COMMIT", connection._commit)
    total = records = 0
    with connection.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()")
        lsn0 = cur.fetchone()[0]
    with connection.execute_wrapper(timer):
        for items in rounds:
            for g in range(0, len(items), args.group):
                group = items[g:g + args.group]
                t = time.perf_counter()
                out = batches_intake(group)
                total += time.perf_counter() - t
                records += sum(r.stored for r in out)
    print(f"{records:,} records in {total:.2f} s = {records / total:,.0f} records/s (intake called directly)")
    with connection.cursor() as cur:
        cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [lsn0])
        wal = float(cur.fetchone()[0])
    print(f"WAL written {wal / 1e6:,.0f} MB = {wal / max(records, 1):,.0f} bytes a record")
    other = total - sum(spent.values())
    print(f"{other:7.3f} s          {1e6 * other / max(records, 1):6.2f} µs/rec  the rest: Python")
    for key, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"{s:7.3f} s {calls[key]:6d}×  {1e6 * s / max(records, 1):6.2f} µs/rec  {key}")


if __name__ == "__main__":
    main()
