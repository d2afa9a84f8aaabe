"""bench/subsidy: a subsidy list of N lines (default 5,000, the most one file holds) checked, filed,
approved and issued; the top-up point's PENDING_REQ answer (terminals.host.pending_for) for cards
with and without a subsidy to claim; the expiry sweep of what is left.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_bench_subsidy .venv/bin/python bench/subsidy/run.py [N]

Yardstick, in the same run: a bare PostgreSQL round trip (SELECT 1) and an indexed row fetch.
"""

import datetime as dt
import statistics
import sys
import time

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0] + "/bench")
from _setup import Clock, django_on_bench_db  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
CLAIMS = min(1000, N // 2)


def per_call(fn, items) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


def show(label, ms):
    ms = sorted(ms)
    print(f"{label:<48} p50 {statistics.median(ms):6.2f} ms  p99 {ms[int(len(ms) * 0.99) - 1]:6.2f} ms  (n={len(ms)})")


def main():
    django_on_bench_db()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts import subsidies
    from accounts.models import Card, Cardholder, CardType, LedgerAccount, Purse
    from accounts.setup import reference_data_ensure, role_group
    from merchants.models import MerchantKind
    from merchants.services import merchant_create
    from terminals.host import pending_for
    from terminals.services import terminal_add

    reference_data_ensure()
    User = get_user_model()
    root = User.objects.create_user("bench-root", is_staff=True, is_superuser=True)
    maker = User.objects.create_user("bench-maker", is_staff=True)
    checker = User.objects.create_user("bench-checker", is_staff=True)
    for u in (maker, checker):
        u.groups.add(role_group("finance"))
    maker, checker = User.objects.get(pk=maker.pk), User.objects.get(pk=checker.pk)

    # N holders with purses and formal cards, in bulk (the fixture, not what is measured).
    holders = Cardholder.objects.bulk_create(
        Cardholder(number=f"B{i:06d}", name=f"持卡人{i}", category="staff") for i in range(2 * N))
    accounts = LedgerAccount.objects.bulk_create(
        LedgerAccount(kind="purse", code=f"P-B{i:06d}", name="purse", normal=-1) for i in range(2 * N))
    purses = Purse.objects.bulk_create(Purse(account=a, holder=h) for a, h in zip(accounts, holders))
    today = dt.date.today()
    Card.objects.bulk_create(
        Card(card_no=100000 + i, card_type=CardType.FORMAL, holder=h, purse=p, issued_on=today,
             valid_until=today + dt.timedelta(days=3650)) for i, (h, p) in enumerate(zip(holders, purses)))
    terminal, _key = terminal_add(actor=root, merchant=merchant_create(actor=root, code="T1", name="充值点",
                                                                      kind=MerchantKind.TOPUP))

    rows = [{"_row": i + 2, "number": f"B{i:06d}", "amount": f"{(i % 300) + 1}.50"} for i in range(N)]
    c = Clock()
    preview = subsidies.subsidy_rows_check(rows=rows, expires_on=today + dt.timedelta(days=30))
    t_check = c.lap()
    batch = subsidies.subsidy_batch_file(actor=maker, rows=rows, reason="bench", expires_on=today + dt.timedelta(days=30))
    t_file = c.lap()
    subsidies.subsidy_batch_decide(actor=checker, batch=batch, approve=True)
    t_approve = c.lap()
    assert not preview.problems
    print(f"{N} lines: check {t_check * 1000:.0f} ms, file (checks again) {t_file * 1000:.0f} ms, "
          f"approve and issue {t_approve * 1000:.0f} ms")

    with_subsidy = [100000 + i for i in range(CLAIMS)]
    without = [100000 + N + i for i in range(CLAIMS)]
    show("PENDING_REQ, card without a subsidy", per_call(lambda n: pending_for(terminal.pk, n), without))
    cards = {c.card_no: c for c in Card.objects.filter(card_no__in=without)}
    show("  of which the subsidy check (subsidies_claim)", per_call(
        lambda n: subsidies.subsidies_claim(card=cards[n], merchant_kind=4), without))
    show("PENDING_REQ, card claiming one subsidy", per_call(lambda n: pending_for(terminal.pk, n), with_subsidy))
    show("PENDING_REQ resent (nothing left to claim)", per_call(lambda n: pending_for(terminal.pk, n), with_subsidy))

    c.lap()
    later = today + dt.timedelta(days=31)
    done = subsidies.subsidies_expire(batch_id=batch.pk, today=later)
    t_expire = c.lap()
    print(f"expiry of {done['lines']} unclaimed lines: {t_expire * 1000:.0f} ms (one journal, one audit row per line)")

    def raw(_):
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def fetch(n):
        with connection.cursor() as cur:
            cur.execute("SELECT id, status FROM accounts_card WHERE card_no = %s", [n])
            cur.fetchone()

    show("yardstick: PostgreSQL SELECT 1", per_call(raw, range(CLAIMS)))
    show("yardstick: one card row by card_no", per_call(fetch, without))


if __name__ == "__main__":
    main()
