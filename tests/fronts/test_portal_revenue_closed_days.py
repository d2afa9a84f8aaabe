"""The merchant's revenue (portal page and API, R-MER-4) reads closed days from the daily close
(R-DAY-1: DayMerchantTotal, DayTerminalTotal) and only the days not closed from records
(settlement.revenue). It must give exactly what the records-only computation
(terminals.selectors.revenue.merchant_revenue_*) gives, for every day, month and terminal: posted
purchases only (held ones are not revenue, R-TERM-2), the dining merchant's share is the base
price (R-SUR-1), a late record counts on the open day it was posted to."""

import datetime as dt
import itertools

import pytest
from django.db import connection

from accounts.models import CardType
from merchants.models import MerchantKind
from settlement import revenue
from settlement import services as settlement_services
from settlement.portal import selectors as portal_selectors
from terminals import selectors as terminal_selectors
from terminals import wire as P
from terminals.models import Record
from tests.settlement.conftest import after_midnight, till, today, travel  # noqa: F401 (fixtures)
from tests.terminals.conftest import admin_user, funded_card, make_terminal, merchants, rates  # noqa: F401

pytestmark = pytest.mark.django_db

D = dt.timedelta(days=1)


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    from accounts.timeutil import BUSINESS_TZ

    return dt.datetime.combine(day, dt.time(hour, minute), BUSINESS_TZ)


@pytest.fixture
def trading(till, funded_card, merchants, today, travel):  # noqa: F811
    """Seven business days D0–D6 across a month end (D3 is the 1st), traded through the real
    intake and posting at two dining terminals and one retail terminal. Closed: D0, D1, D2, D4.
    Not closed: D3 (skipped by the close), D5 (it is 00:05 on D6) and D6 (today)."""
    first_next = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    if first_next - 3 * D <= today:
        first_next = (first_next + dt.timedelta(days=32)).replace(day=1)
    d = [first_next - 3 * D + i * D for i in range(7)]
    a1, a2, r = till(MerchantKind.DINING), till(MerchantKind.DINING), till(MerchantKind.RETAIL)
    f1, f2, f3 = a1.card(funded_card(100000)), a2.card(funded_card(100000)), r.card(funded_card(100000))
    c1 = a1.card(funded_card(100000, card_type=CardType.CONSUMPTION))

    travel(_at(d[0], 10))
    a1.send([a1.purchase(f1, 500), a1.purchase(c1, 400, 60)])  # 15% board + energy fee on 400 (R-SUR-1)
    a2.send([a2.purchase(f2, 700)])
    r.send([r.purchase(f3, 300), r.purchase(f3, 250, flags=P.FLAG_OFFLINE)])  # held out (R-TERM-2)

    travel(after_midnight(d[0]))
    settlement_services.day_close(day=d[0])
    travel(_at(d[1], 11))
    a1.send([a1.purchase(c1, 200, 30)])
    a2.send([a2.purchase(f2, 800)])
    r.send([r.purchase(f3, 1000)])
    late = a1.purchase(f1, 900)  # charged on D1, uploaded after D1 was closed

    travel(after_midnight(d[1]))
    settlement_services.day_close(day=d[1])
    travel(_at(d[2], 9))
    a1.send([late])
    r.send([r.purchase(f3, 400)])
    a2.send([a2.purchase(f2, 150, flags=P.FLAG_OFFLINE)])

    travel(after_midnight(d[2]))
    settlement_services.day_close(day=d[2])
    travel(_at(d[3], 12))
    a1.send([a1.purchase(f1, 600)])
    r.send([r.purchase(f3, 500)])

    travel(_at(d[4], 12))  # D3 is left unclosed: a gap the records must fill
    a2.send([a2.purchase(f2, 350)])
    r.send([r.purchase(f3, 200)])

    travel(after_midnight(d[4]))
    settlement_services.day_close(day=d[4])
    travel(_at(d[5], 12))
    a1.send([a1.purchase(f1, 100)])

    travel(after_midnight(d[5], 5))  # D6 00:05: the beat has not closed D5 yet
    r.send([r.purchase(f3, 50)])
    late_rec = Record.objects.get(terminal=a1.terminal, term_seq=late.term_seq)
    return {"days": d, "dining": merchants[MerchantKind.DINING], "retail": merchants[MerchantKind.RETAIL],
            "water": merchants[MerchantKind.WATER], "terminals": [a1.terminal.pk, a2.terminal.pk, r.terminal.pk],
            "late": late_rec}


def test_r_day_1_revenue_from_the_close_equals_records_for_every_day_month_and_terminal(trading):
    d = trading["days"]
    assert revenue.closed_days(start=d[0], end=d[6]) == {d[0], d[1], d[2], d[4]}
    late = trading["late"]
    assert late.status == "posted" and late.business_day == d[2]  # the next open day, not its own closed D1
    window = [d[0] - 2 * D + i * D for i in range(11)]  # two days before D0 to one after D6
    shops = [trading["dining"], trading["retail"], trading["water"]]
    compared = 0
    for start, end in itertools.combinations_with_replacement(window, 2):
        for m in shops:
            assert revenue.merchant_revenue_by_day(merchant=m, start=start, end=end) == \
                terminal_selectors.merchant_revenue_by_day(merchant=m, start=start, end=end), (m.code, start, end)
            assert revenue.merchant_revenue_by_month(merchant=m, start=start, end=end) == \
                terminal_selectors.merchant_revenue_by_month(merchant=m, start=start, end=end), (m.code, start, end)
            assert revenue.merchant_revenue_by_terminal(merchant=m, start=start, end=end) == \
                terminal_selectors.merchant_revenue_by_terminal(merchant=m, start=start, end=end), (m.code, start, end)
            compared += 3
    for m, tid in itertools.product(shops, trading["terminals"]):
        for start, end in ((window[0], window[-1]), (d[0], d[2]), (d[3], d[6]), (d[2], d[4])):
            assert revenue.merchant_revenue_by_day(merchant=m, start=start, end=end, terminal_id=tid) == \
                terminal_selectors.merchant_revenue_by_day(merchant=m, start=start, end=end, terminal_id=tid)
            assert revenue.merchant_revenue_by_month(merchant=m, start=start, end=end, terminal_id=tid) == \
                terminal_selectors.merchant_revenue_by_month(merchant=m, start=start, end=end, terminal_id=tid)
            compared += 2
    assert compared > 500
    # The data is not trivial: both months, held records, the dining share and the late record.
    months = revenue.merchant_revenue_by_month(merchant=trading["dining"], start=window[0], end=window[-1])
    assert [(m["count"], m["amount"]) for m in months] == [(6, 500 + 400 + 700 + 200 + 800 + 900), (3, 600 + 350 + 100)]
    retail = revenue.merchant_revenue_by_day(merchant=trading["retail"], start=d[0], end=d[6])
    assert [(r["count"], r["amount"]) for r in retail] == [(1, 300), (1, 1000), (1, 400), (1, 500), (1, 200), (0, 0),
                                                           (1, 50)]


def test_r_mer_4_portal_page_numbers_are_unchanged_and_closed_days_come_from_the_close(trading):
    d = trading["days"]
    dining = trading["dining"]
    checked = 0
    for m, day, tid in itertools.product((dining, trading["retail"], trading["water"]), [*d, d[6] + D],
                                         (None, *trading["terminals"])):
        new = portal_selectors.revenue_overview(merchant=m, today=day, terminal_id=tid)
        this = day.replace(day=1)
        year_start = (this.replace(year=this.year - 1) + dt.timedelta(days=32)).replace(day=1)
        assert new == {
            "days": terminal_selectors.merchant_revenue_by_day(merchant=m, start=day - 29 * D, end=day, terminal_id=tid),
            "months": terminal_selectors.merchant_revenue_by_month(merchant=m, start=year_start, end=day, terminal_id=tid),
            "terminals": terminal_selectors.merchant_revenue_by_terminal(merchant=m, start=this, end=day),
        }, (m.code, day, tid)
        checked += bool(new["months"])
    assert checked > 30
    # 00:05 on the 1st: last month's last day is not closed yet and the terminal table (this month)
    # must leave its records out. Dropping D2's close makes that case (the records stay as they are).
    from settlement.models import DayClose

    DayClose.objects.filter(day=d[2]).delete()
    for m, tid in itertools.product((dining, trading["retail"]), (None, *trading["terminals"])):
        this = d[3].replace(day=1)
        year_start = (this.replace(year=this.year - 1) + dt.timedelta(days=32)).replace(day=1)
        assert portal_selectors.revenue_overview(merchant=m, today=d[3], terminal_id=tid) == {
            "days": terminal_selectors.merchant_revenue_by_day(merchant=m, start=d[3] - 29 * D, end=d[3], terminal_id=tid),
            "months": terminal_selectors.merchant_revenue_by_month(merchant=m, start=year_start, end=d[3], terminal_id=tid),
            "terminals": terminal_selectors.merchant_revenue_by_terminal(merchant=m, start=this, end=d[3]),
        }, (m.code, tid)
    # A closed day is read from the close, not from records: change a record of closed D0 behind
    # everyone's back and only the records-only computation moves.
    before = revenue.merchant_revenue_by_day(merchant=dining, start=d[0], end=d[0])
    page = portal_selectors.revenue_overview(merchant=dining, today=d[6])
    with connection.cursor() as cur:
        cur.execute("""UPDATE terminals_record SET base_amount = base_amount + 1, merchant_amount = merchant_amount + 1
                       WHERE business_day = %s AND merchant_id = %s""", [d[0], dining.pk])
    assert revenue.merchant_revenue_by_day(merchant=dining, start=d[0], end=d[0]) == before
    assert portal_selectors.revenue_overview(merchant=dining, today=d[6]) == page
    after = terminal_selectors.merchant_revenue_by_day(merchant=dining, start=d[0], end=d[0])
    assert after[0]["amount"] == before[0]["amount"] + 3
    with connection.cursor() as cur:
        cur.execute("""UPDATE terminals_record SET base_amount = base_amount - 1, merchant_amount = merchant_amount - 1
                       WHERE business_day = %s AND merchant_id = %s""", [d[0], dining.pk])


def test_r_day_1_terminal_totals_carry_the_merchant_share_and_held_count(trading):
    from settlement.models import DayTerminalTotal

    d = trading["days"]
    a1, a2, r = trading["terminals"]
    rows = {t.terminal_id: t for t in DayTerminalTotal.objects.filter(day=d[2])}
    assert (rows[a1].purchases, rows[a1].settled, rows[a1].held_count) == (1, 900, 0)  # the late record
    assert (rows[a2].purchases, rows[a2].settled, rows[a2].held_count) == (1, 0, 1)
    assert (rows[r].purchases, rows[r].settled, rows[r].held_count) == (1, 400, 0)
    d0 = {t.terminal_id: t for t in DayTerminalTotal.objects.filter(day=d[0])}
    assert (d0[a1].purchase_amount, d0[a1].settled) == (960, 900)  # dining: base only (R-SUR-1)
    assert (d0[r].purchases, d0[r].settled, d0[r].held_count) == (2, 300, 1)


def test_r_day_1_migrations_fill_the_split_of_records_and_days_posted_before_them(trading):
    """terminals 0003 fills each posted record's split as posting booked it (from its journal, so
    a merchant whose kind changed since keeps what it was paid), and settlement 0003 refills the
    closed days' four figures from those columns: the same numbers as posting and day_close
    write (R-SUR-1, R-SUR-2, R-TERM-2)."""
    import importlib

    from merchants.models import Merchant
    from settlement.models import DayCardTypeTotal, DayClose, DayMerchantTotal, DayTerminalTotal

    records = importlib.import_module("terminals.migrations.0003_record_split")
    days = importlib.import_module("settlement.migrations.0003_day_split")
    split = ("id", "status", "merchant_amount", "surcharge_amount", "held_amount")
    posted = sorted(Record.objects.values_list(*split))
    assert {s for _, s, *_ in posted} == {"posted", "held"} and any(r[3] for r in posted)  # catering fees were paid
    figures = ("purchase_amount", "settled", "surcharge_amount", "held_amount")
    tables = [DayClose, DayMerchantTotal, DayTerminalTotal, DayCardTypeTotal]
    closed = [sorted(t.objects.values_list("pk", *figures)) for t in tables]
    # The dining merchant became retail since: posting's journal still says what it was paid.
    Merchant.objects.filter(pk=trading["dining"].pk).update(kind=MerchantKind.RETAIL)
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending deferred checks: the table can be altered
        cur.execute("ALTER TABLE terminals_record DROP CONSTRAINT record_split_adds_up")
        cur.execute("UPDATE terminals_record SET merchant_amount = 0, surcharge_amount = 0, held_amount = 0")
        for t in tables:
            cur.execute(f"ALTER TABLE {t._meta.db_table} DROP CONSTRAINT {t._meta.constraints[-1].name}")
            cur.execute(f"UPDATE {t._meta.db_table} SET purchase_amount = 0, settled = 0, surcharge_amount = 0, "
                        "held_amount = 0")
        for sql in (records.HELD, records.POSTED, records.POSTED_UNBOOKED, records.ADD_CHECK, days.BACKFILL):
            cur.execute(sql)
        cur.execute("SET CONSTRAINTS ALL DEFERRED")
    assert sorted(Record.objects.values_list(*split)) == posted
    assert [sorted(t.objects.values_list("pk", *figures)) for t in tables] == closed
