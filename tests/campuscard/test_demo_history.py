"""`seed_demo` with history: weeks of trade through the real intake and posting, every day closed
(R-DAY-1), last month settled (R-SET-1, R-SET-2) and its statements moved along (R-SET-3), the
ledger balanced and the purses where the simulator expects them."""

from __future__ import annotations

import datetime as dt
import io
import sys
from collections import Counter

import pytest
import time_machine
from django.core.management import call_command
from django.test import override_settings

from accounts.ledger import ledger_check
from accounts.models import Cardholder
from accounts.selectors import cards_purse_state
from accounts.timeutil import business_day
from devtools.demo_history import _Card, _History, _reaches, _Terminal, _topological
from devtools.simulator import cards_setup
from settlement.models import CloseException, DayClose, DayMerchantTotal, Statement
from terminals.models import Batch, CardFlag, Record
from terminals.selectors import records_daily
from tests.accounts.helpers import at, fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 3, 16)


@pytest.fixture(scope="module")
def history(django_db_setup, django_db_blocker, tmp_path_factory):
    """One demo with 20 days of history (seeded 2026-02-24; February settled in March), shared
    by the history tests of this module inside one transaction that is rolled back at the end."""
    from django.db import transaction

    base = tmp_path_factory.mktemp("demo")
    out = io.StringIO()
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with (override_settings(BASE_DIR=base, PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
                  time_machine.travel(at(2026, 3, 16, 11), tick=False)):
                call_command("seed_demo", holders=40, history_days=20, history_per_day=60, stdout=out)
            yield out.getvalue()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def demo(history):
    return history


# These seed their own demo: they run before the shared history is made (file order).
def test_history_skipped_with_a_note_without_time_machine(tmp_path, monkeypatch):
    """A production install has no dev requirements: the demo is seeded as before, now."""
    monkeypatch.setitem(sys.modules, "time_machine", None)
    out = io.StringIO()
    with override_settings(BASE_DIR=tmp_path):
        call_command("seed_demo", holders=12, stdout=out)
    assert "Demo history skipped" in out.getvalue()
    assert Cardholder.objects.exists() and not DayClose.objects.exists() and not Record.objects.exists()


def test_no_history_option(tmp_path):
    out = io.StringIO()
    with override_settings(BASE_DIR=tmp_path):
        call_command("seed_demo", holders=12, no_history=True, stdout=out)
    assert "Demo history" not in out.getvalue()
    assert not DayClose.objects.exists()


def test_failed_history_is_rolled_back_and_the_demo_still_seeded(tmp_path, monkeypatch):
    """`make run` must start even if the history breaks: nothing of it stays, the note says why."""
    def broken(self, day, tasks=()):
        raise ValueError("simulated failure")

    monkeypatch.setattr(_History, "day", broken)
    out = io.StringIO()
    with override_settings(BASE_DIR=tmp_path), time_machine.travel(at(2026, 3, 16, 11), tick=False):
        call_command("seed_demo", holders=12, history_days=3, stdout=out)
    assert "Demo history failed and was rolled back" in out.getvalue() and "simulated failure" in out.getvalue()
    assert Cardholder.objects.exists()
    assert not DayClose.objects.exists() and not Record.objects.exists() and not Statement.objects.exists()


def test_r_day_1_every_day_of_the_history_is_closed_balanced(demo):
    """Go-live is 2026-02-24; February's earlier days are closed empty so February can settle;
    the last closed day is yesterday and none has an open exception."""
    closes = DayClose.objects.order_by("day")
    assert [c.day for c in closes] == [dt.date(2026, 2, 1) + dt.timedelta(days=i) for i in range(43)]
    assert {c.status for c in closes} == {DayClose.Status.BALANCED}
    assert not CloseException.objects.exists()
    traded = [c for c in closes if c.records]
    assert traded[0].day == dt.date(2026, 2, 24) and len(traded) == 20
    assert all(c.totals["trial_balance"]["balanced"] for c in closes)
    assert sum(c.totals["surcharge_amount"] for c in closes) > 0  # ordinary and consumption cards ate (R-SUR-1)
    assert "Demo history: 20 days 2026-02-24…2026-03-15" in demo and "ledger balanced" in demo


def test_r_day_1_records_posted_on_their_own_day_without_card_differences(demo):
    """Every record was taken by intake and posted (no exception, no held, no card-vs-account flag,
    R-FREEZE-1), on the business day of its card time, uploaded after it was made."""
    assert Counter(Record.objects.values_list("status", flat=True)) == Counter(
        {"posted": Record.objects.count()})
    assert Record.objects.count() > 20 * 45  # 60 purchases a weekday, fewer at weekends, and the top-ups
    assert not CardFlag.objects.exists()
    for rec in Record.objects.select_related("batch").only("time", "business_day", "batch__received_at", "problems"):
        assert business_day(rec.time) == rec.business_day
        assert rec.time <= rec.batch.received_at
        assert rec.problems == []
    assert not Batch.objects.filter(posted_at__isnull=True).exists()
    kinds = Counter(Record.objects.values_list("merchant__kind", flat=True))
    assert set(kinds) == {1, 2, 3, 4}  # canteens, water, shops and the cash desk


def test_r_set_3_last_month_settled_and_statements_in_every_status(demo):
    """February's statements: the first merchants' (by code) paid, approved, checked and applied
    in the window from 11 March (U§11), the rest computed; the fee is 0.5% of consumption (R-SET-2)."""
    feb = Statement.objects.filter(period_start=dt.date(2026, 2, 1), period_end=dt.date(2026, 2, 28), kind="merchant")
    by_code = {s.merchant.code: s for s in feb.select_related("merchant")}
    assert [by_code[c].status for c in ("C01", "C02", "S01", "S02")] == ["paid", "approved", "checked", "applied"]
    assert {by_code[c].status for c in by_code if c not in ("C01", "C02", "S01", "S02")} <= {"open"}
    assert not any(s.applied_late for s in feb)
    paid = by_code["C01"]
    assert paid.payout_journal_id and paid.bank_ref.startswith("DEMO-202602")
    assert paid.paid_at.date() == dt.date(2026, 3, 14)
    for s in feb:
        assert s.fee == (s.fee_base * 5 + 500) // 1000
        assert s.consumption == sum(DayMerchantTotal.objects.filter(
            merchant=s.merchant, day__range=(s.period_start, s.period_end)).values_list("settled", flat=True))


def test_r_sur_1_catering_surcharge_statement_for_last_month(demo):
    """Every posting run in the demo coalesces batches (source 'batches:…'): their surcharges count."""
    assert Statement.objects.filter(kind="surcharge", period_start=dt.date(2026, 2, 1)).exists()


def test_purses_continue_where_the_history_left_them(demo):
    """The simulator `make run` starts afterwards reads each purse's counter and card balance:
    they are the last posted record's, and the host balance less pending credit equals the card's."""
    last = {}
    for card_no, counter, after in Record.objects.order_by("card_no", "card_counter").values_list(
            "card_no", "card_counter", "balance_after"):
        last[card_no] = (counter + 1, after)
    cards = cards_setup(count=1000)
    assert len(cards) > 30
    used = [c for c in cards if c.card_no in last]
    assert len(used) > 0.8 * len(cards)
    for c in used:
        assert (c.counter, c.balance) == last[c.card_no]
        assert c.offset == 0
    state = {r["card_no"]: r for r in cards_purse_state(card_nos=last)}
    assert all(state[n]["balance"] >= 0 for n in last)
    assert ledger_check() == []


def test_dashboard_chart_has_the_last_30_days(demo):
    series = records_daily(start=TODAY - dt.timedelta(days=29), end=TODAY)
    assert sum(1 for d in series if d["count"]) == 20
    assert series[-1]["count"] == 0  # today belongs to the live simulator


def test_crossing_cards_split_a_terminal_batch_so_counters_stay_in_order():
    """Card X goes A → B while card Y goes B → A before either uploads: B's records are cut in
    two batches so that every card's records are posted in counter order."""
    h = _History.__new__(_History)
    h.segments = []
    a, b = _Terminal(1, "dining", None), _Terminal(2, "topup", None)
    x, y = (_Card(n, 1, 0, 0, 0, 0, 1.0) for n in (10, 20))
    placed = []
    for term, card in ((a, x), (b, y), (b, x), (a, y), (b, x)):
        seg = h._place(term, card)
        seg.records.append(card.card_no)
        card.segment = seg
        placed.append((card.card_no, seg))
    order = _topological(h.segments)
    position = {id(s): i for i, s in enumerate(order)}
    for card_no in (10, 20):
        seen = [position[id(s)] for n, s in placed if n == card_no]
        assert seen == sorted(seen)
    assert len(h.segments) == 3 and _reaches(h.segments[0], h.segments[-1])
