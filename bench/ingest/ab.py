"""Paired A/B timing of one intake statement, for changes smaller than the machine's swing.

Whole bench runs of two versions, even alternated, could not tell a 5 % change in one statement:
this kind of machine moves PostgreSQL's CPU per record by ±15 % within minutes. Here both
versions run on the same rows at the same moment. The intake runs as profile.py runs it (the bench
fixture, groups of 125 batches); at each call of the statement that starts with PREFIX, A and B
run REPS times each, in alternating order, each inside a savepoint that is rolled back, then the
intake's own statement runs. It prints each side's median and the median of the B/A ratios.

    .venv/bin/python bench/ingest/ab.py VARIANT.py [--history N]

VARIANT.py defines variants() -> (sql_a, sql_b, prefix), both with the intake statement's
parameters, and may list statements to run before the timed one inside the savepoint, PRE_A and
PRE_B (to time the record insert without an index, say: DDL inside a savepoint is rolled back too).
Example, the record insert with the card index on (card_no, time) against card_no alone (B/A
1.05-1.10 on 2026-12-07, without and with --history 200; without any card index 0.915):

    PRE_A = ["DROP INDEX record_card_time", "CREATE INDEX card_a ON terminals_record (card_no)"]
    PRE_B = ["DROP INDEX record_card_time", "CREATE INDEX card_b ON terminals_record (card_no, time)"]

    def variants():
        from terminals.ingest import intake
        sql = intake._INSERT_WHEN_RISING[True]
        return sql, sql, "INSERT INTO terminals_record"
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

REPS = 3
GROUP = 125  # terminals per group commit, as profile.py


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("variant")
    ap.add_argument("--history", type=int, default=0, help="posted purchases per card before (run.py --history)")
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("variant", args.variant)
    variant = importlib.util.module_from_spec(spec)
    run.fixture(args.history)
    spec.loader.exec_module(variant)  # after Django is set up: a variant may import the intake
    from django.db import connection

    from terminals.ingest.intake import batches_intake

    sql_a, sql_b, prefix = variant.variants()
    sql = {"A": sql_a, "B": sql_b}
    rounds = run.batch_rounds(1000, 200)
    times = {"A": [], "B": []}
    busy = False

    def paired(execute, text, params, many, context):
        nonlocal busy
        if busy or not " ".join(text.split()).startswith(prefix):
            return execute(text, params, many, context)
        busy = True
        try:
            cur = context["cursor"]
            for k in range(REPS):
                for side in ("A", "B") if k % 2 == 0 else ("B", "A"):
                    cur.execute("SAVEPOINT ab")
                    for pre in getattr(variant, f"PRE_{side}", []):
                        cur.execute(pre)
                    t = time.perf_counter()
                    cur.execute(sql[side], params)
                    times[side].append(time.perf_counter() - t)
                    cur.execute("ROLLBACK TO SAVEPOINT ab")
        finally:
            busy = False
        return execute(text, params, many, context)

    with connection.execute_wrapper(paired):
        for items in rounds:
            for g in range(0, len(items), GROUP):
                batches_intake(items[g:g + GROUP])
    for side in "AB":
        print(f"{side}  {len(times[side])} runs, median {1e3 * statistics.median(times[side]):.1f} ms")
    ratios = sorted(b / a for a, b in zip(times["A"], times["B"], strict=True))
    print(f"B/A median {statistics.median(ratios):.3f} (from {ratios[0]:.3f} to {ratios[-1]:.3f})")


if __name__ == "__main__":
    main()
