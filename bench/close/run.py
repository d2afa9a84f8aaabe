"""bench/close: the daily close of one business day with N posted records (default 500,000).

    .venv/bin/python bench/close/run.py [records]

Builds, in a throw-away database, merchants (a third dining), terminals, consumption cards with
money, and one day of posted batches exactly as posting leaves them (one journal per batch, one
aggregated posting per account, records pointing at their journal). Then times day_close() on
it (first run and re-run) and, in the same run, the raw PostgreSQL yardstick: the bare GROUP BY
over the day's records and postings, and a COPY of the day's records.
"""

import datetime as dt
import io
import sys

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0] + "/bench")
from _setup import Clock, django_on_bench_db  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
MERCHANTS, TERMINALS, CARDS, PER_BATCH = 200, 1000, 20_000, 100
DAY = dt.date(2026, 1, 15)


def build():
    from django.db import connection

    from accounts.models import Card, Journal, LedgerAccount, Purse
    from accounts.setup import reference_data_ensure
    from merchants.models import Merchant
    from terminals.models import Assignment, Batch, Terminal

    reference_data_ensure()
    K = LedgerAccount.Kind
    accts = LedgerAccount.objects.bulk_create(
        LedgerAccount(kind=K.MERCHANT, code=f"MER-B{i}", name=f"m{i}", normal=-1) for i in range(MERCHANTS))
    merchants = Merchant.objects.bulk_create(
        Merchant(code=f"B{i:04d}", name=f"商户{i}", kind=1 if i % 3 == 0 else 3, payable_account=a)
        for i, a in enumerate(accts))
    terminals = Terminal.objects.bulk_create(Terminal(id=i + 1, kind=1, key=b"k" * 32) for i in range(TERMINALS))
    since = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    Assignment.objects.bulk_create(Assignment(terminal=t, merchant=merchants[i % MERCHANTS], valid_from=since)
                                   for i, t in enumerate(terminals))
    paccts = LedgerAccount.objects.bulk_create(
        LedgerAccount(kind=K.PURSE, code=f"P{i}", name=f"p{i}", normal=-1) for i in range(CARDS))
    purses = Purse.objects.bulk_create(Purse(account=a) for a in paccts)
    Card.objects.bulk_create(Card(card_no=30_000_000 + i, card_type=3, purse=p, issued_on=DAY, valid_until=DAY.replace(
        year=2028)) for i, p in enumerate(purses))
    cash = LedgerAccount.objects.create(kind=K.CASH, code="CASH-B", name="cash", normal=1)
    batches_n = N // PER_BATCH
    batches = Batch.objects.bulk_create(
        Batch(terminal_id=(b % TERMINALS) + 1, batch_no=b // TERMINALS + 1, msg_seq=b, raw=b"", count=PER_BATCH,
              stored=PER_BATCH) for b in range(batches_n))
    journals = Journal.objects.bulk_create(
        [Journal(kind="deposit", business_day=DAY - dt.timedelta(days=1), source="bench-fund")]
        + [Journal(kind="purchase", business_day=DAY, source=f"batch:{b.pk}") for b in batches])
    fund, journals = journals[0], journals[1:]
    with connection.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # bulk load: skip per-row triggers
        cur.execute("""CREATE TEMP TABLE bb AS SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
                       AS t(idx, batch_id, journal_id, terminal_id)""",
                    [list(range(batches_n)), [b.pk for b in batches], [j.pk for j in journals],
                     [b.terminal_id for b in batches]])
        cur.execute("""CREATE TEMP TABLE cc AS SELECT row_number() OVER (ORDER BY c.id) - 1 AS idx, c.card_no,
                       p.account_id FROM accounts_card c JOIN accounts_purse p ON p.id = c.purse_id""")
        cur.execute("""CREATE TEMP TABLE tm AS SELECT a.terminal_id, m.id AS merchant_id, m.kind, m.payable_account_id
                       FROM terminals_assignment a JOIN merchants_merchant m ON m.id = a.merchant_id""")
        cur.execute(
            """CREATE TEMP TABLE rr AS
               SELECT bb.terminal_id, bb.idx * %s + k + 1 AS term_seq, bb.batch_id, bb.journal_id, tm.merchant_id,
                      tm.kind AS mkind, tm.payable_account_id, cc.card_no, cc.account_id AS purse_account,
                      100 + ((bb.idx * 7919 + k * 104729) %% 2000) AS base, k,
                      %s::timestamptz + ((bb.idx * %s + k) * interval '80 milliseconds') AS ts
               FROM bb CROSS JOIN generate_series(0, %s - 1) k
               JOIN tm ON tm.terminal_id = bb.terminal_id
               JOIN cc ON cc.idx = (bb.idx * %s + k) %% %s""",
            [PER_BATCH, dt.datetime.combine(DAY, dt.time(0, 30), dt.UTC), PER_BATCH, PER_BATCH, PER_BATCH, CARDS],
        )
        cur.execute("ALTER TABLE rr ADD COLUMN sur bigint")
        cur.execute("UPDATE rr SET sur = CASE WHEN mkind = 1 THEN (base * 1500 * 2 + 10000) / 20000 ELSE 0 END")
        cur.execute(
            """INSERT INTO terminals_record (terminal_id, term_seq, batch_id, card_no, card_type, kind, card_counter,
                   flags, base_amount, surcharge, balance_before, balance_after, time, operator_no, raw, status,
                   problems, merchant_id, journal_id, posted_at, business_day, merchant_amount, surcharge_amount)
               SELECT terminal_id, term_seq, batch_id, card_no, 3, 1, 0, 0, base, sur, 0, 0, ts, 0, '\\x00'::bytea,
                      'posted', '[]'::jsonb, merchant_id, journal_id, ts, %s,
                      CASE WHEN mkind = 1 THEN base ELSE base + sur END, CASE WHEN mkind = 1 THEN sur ELSE 0 END
               FROM rr ORDER BY batch_id, term_seq""",
            [DAY],
        )
        sur_id = LedgerAccount.objects.get(kind="surcharge").pk
        cur.execute(
            """INSERT INTO accounts_posting (journal_id, account_id, amount)
               SELECT journal_id, purse_account, SUM(base + sur) FROM rr GROUP BY journal_id, purse_account
               UNION ALL SELECT journal_id, payable_account_id,
                                -SUM(CASE WHEN mkind = 1 THEN base ELSE base + sur END) FROM rr GROUP BY 1, 2
               UNION ALL SELECT journal_id, %s, -SUM(sur) FROM rr GROUP BY 1 HAVING SUM(sur) > 0""",
            [sur_id],
        )
        # Money on every card the day before: one deposit journal.
        cur.execute("""INSERT INTO accounts_posting (journal_id, account_id, amount)
                       SELECT %s, account_id, -10000000 FROM cc UNION ALL SELECT %s, %s, 10000000::bigint * %s""",
                    [fund.pk, fund.pk, cash.pk, CARDS])
        cur.execute("SET session_replication_role = origin")
        cur.execute("""UPDATE accounts_ledgeraccount a SET balance = a.normal * s.total
                       FROM (SELECT account_id, SUM(amount) AS total FROM accounts_posting GROUP BY 1) s
                       WHERE s.account_id = a.id""")
        cur.execute("ANALYZE")


def yardstick(day):
    from django.db import connection

    c = Clock()
    out = {}
    with connection.cursor() as cur:
        cur.execute("""SELECT merchant_id, terminal_id, card_type, kind, status, operator_no, COUNT(*),
                              SUM(base_amount + surcharge), SUM(merchant_amount), SUM(surcharge_amount),
                              SUM(held_amount)
                       FROM terminals_record WHERE business_day = %s GROUP BY 1, 2, 3, 4, 5, 6""", [day])
        cur.fetchall()
        out["GROUP BY records"] = c.lap()
        cur.execute("""SELECT p.account_id, SUM(p.amount) FROM accounts_posting p
                       JOIN accounts_journal j ON j.id = p.journal_id WHERE j.business_day = %s GROUP BY 1""", [day])
        cur.fetchall()
        out["GROUP BY postings"] = c.lap()
        sink = io.StringIO()
        cur.cursor.copy_expert(
            f"COPY (SELECT id, merchant_id, terminal_id, card_type, base_amount, surcharge, merchant_amount, "
            f"surcharge_amount, held_amount FROM terminals_record "
            f"WHERE business_day = '{day}') TO STDOUT", sink)
        out["COPY records out"] = c.lap()
    return out


def main():
    django_on_bench_db()
    c = Clock()
    build()
    print(f"built {N:,} records of {DAY} in {c.lap():.1f} s")
    from settlement import services

    first = services.day_close(day=DAY)
    t1 = c.lap()
    again = services.day_close(day=DAY)
    t2 = c.lap()
    ys = yardstick(DAY)
    print(f"day_close({DAY}) first run: {t1:.2f} s  (status {first.status}, {first.records:,} records, "
          f"{first.totals['purses']['moved']:,} purses rebuilt, {first.open_exceptions} exceptions)")
    print(f"day_close({DAY}) re-run:    {t2:.2f} s  (status {again.status}, same totals: "
          f"{again.totals == first.totals})")
    for k, v in ys.items():
        print(f"yardstick {k:<18} {v:.2f} s")
    print(f"target: < 5 s on 2 cores -> {'OK' if max(t1, t2) < 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
