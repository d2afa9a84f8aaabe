"""bench/settle: monthly settlement of 2,000 merchants, from the daily closes.

    .venv/bin/python bench/settle/run.py

Settlement reads only the daily closes' per-merchant rows (one per merchant and day), so the
record count changes the sums in those rows, not their number. Generating 10,000,000 terminal
records and closing 31 days takes far longer than this machine's budget, so the bench writes
the daily-close rows directly (2,000 merchants × 31 days, as day_close would leave them) for a
month of 10,000,000 records and another of 1,000,000, then times settlement_compute() of each
(first run and re-run) and the bare SQL GROUP BY over the same rows as the yardstick.
"""

import datetime as dt
import sys

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0] + "/bench")
from _setup import Clock, django_on_bench_db  # noqa: E402

MERCHANTS = 2000
MONTHS = {(2026, 1): 10_000_000, (2026, 3): 1_000_000}


def build():
    from django.db import connection
    from django.utils import timezone

    from accounts.models import ClosedDay, LedgerAccount
    from accounts.setup import reference_data_ensure
    from merchants.models import Merchant
    from settlement.models import DayClose
    from settlement.services import month_bounds

    reference_data_ensure()
    accts = LedgerAccount.objects.bulk_create(
        LedgerAccount(kind="merchant", code=f"MER-S{i}", name=f"m{i}", normal=-1) for i in range(MERCHANTS))
    Merchant.objects.bulk_create(Merchant(code=f"S{i:05d}", name=f"商户{i}", kind=1 if i % 3 == 0 else 3,
                                          payable_account=a) for i, a in enumerate(accts))
    sur = LedgerAccount.objects.get(kind="surcharge").pk
    now = timezone.now()
    for (y, m), records in MONTHS.items():
        start, end = month_bounds(y, m)
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        per_row = records // (MERCHANTS * len(days))
        ClosedDay.objects.bulk_create(ClosedDay(day=d) for d in days)
        # The catering surcharge statement sums the days' surcharge_amount (the movement below is its ledger side).
        closes = DayClose.objects.bulk_create(DayClose(day=d, status="balanced", run_at=now, records=per_row * MERCHANTS,
                                                       purchase_amount=123456, surcharge_amount=123456) for d in days)
        with connection.cursor() as cur:
            cur.execute(
                """INSERT INTO settlement_daymerchanttotal (day_close_id, day, merchant_id, purchases, purchase_amount,
                       surcharge_amount, settled, held_count, held_amount, duplicates, refunds, corrections,
                       payable_from_batches)
                   SELECT dc.id, dc.day, m.id, %s, %s * (500 + m.id %% 700) + ((m.id + dc.id) %% 3) * 450, 0,
                          %s * (500 + m.id %% 700),
                          (m.id + dc.id) %% 3, ((m.id + dc.id) %% 3) * 450, 0,
                          CASE WHEN (m.id + dc.id) %% 17 = 0 THEN 333 ELSE 0 END,
                          CASE WHEN (m.id + dc.id) %% 29 = 0 THEN 125 ELSE 0 END, %s * (500 + m.id %% 700)
                   FROM merchants_merchant m CROSS JOIN settlement_dayclose dc WHERE dc.id = ANY(%s)""",
                [per_row, per_row, per_row, per_row, [c.pk for c in closes]],
            )
            cur.execute(
                """INSERT INTO settlement_dayaccounttotal (day_close_id, day, account_id, kind, journal_kind, source,
                       movement, journals)
                   SELECT id, day, %s, 'surcharge', 'purchase', 'batch', 123456, 100 FROM settlement_dayclose
                   WHERE id = ANY(%s)""",
                [sur, [c.pk for c in closes]],
            )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")


def main():
    django_on_bench_db()
    build()
    from django.db import connection

    from settlement import services
    from settlement.models import Statement

    for (y, m), records in MONTHS.items():
        start, end = services.month_bounds(y, m)
        c = Clock()
        n = services.settlement_compute(period_start=start, period_end=end)
        t1 = c.lap()
        snap = list(Statement.objects.filter(period_start=start).order_by("pk").values_list("net", "fee"))
        c.lap()
        services.settlement_compute(period_start=start, period_end=end)
        t2 = c.lap()
        same = snap == list(Statement.objects.filter(period_start=start).order_by("pk").values_list("net", "fee"))
        c.lap()
        with connection.cursor() as cur:
            cur.execute("""SELECT merchant_id, SUM(settled), SUM(refunds) FROM settlement_daymerchanttotal
                           WHERE day BETWEEN %s AND %s GROUP BY 1""", [start, end])
            cur.fetchall()
        ys = c.lap()
        print(f"{y}-{m:02d}: {records:>10,} records, {MERCHANTS} merchants -> {n} statements in {t1:.2f} s, "
              f"re-run {t2:.2f} s (same numbers: {same}); yardstick GROUP BY {ys:.3f} s; "
              f"target < 2 s -> {'OK' if max(t1, t2) < 2 else 'MISSED'}")


if __name__ == "__main__":
    main()
