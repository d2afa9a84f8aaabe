"""Demo history for `make run`: weeks of trade, closed days and a month's settlement, made through
the real code paths so every front has something to show on the first start.

The clock is moved with time-machine (a dev requirement): the demo data are seeded at the start of
the history (terminals are assigned then, and intake refuses records from before an assignment),
then every day the demo cards buy at the demo merchants' terminals (canteen peaks, evening
showers, shops) and top up at the cash desks; terminals upload their records in batches
(terminals.ingest.intake.batch_intake) and the worker's job is done in step (terminals.ingest.posting.batch_post).
At 00:10 the previous day is closed (settlement.services.day_close), on the 1st the finished
month is settled, and from the 11th (U§11) a few statements are applied for, checked, approved
and paid. The ledger is checked at the end.

Each card is one purse, kept in memory as the card and the host would see it, so every record
continues its card's counter and balance and never spends more than the host holds. Terminals
upload a few times a day (SYNC_HOURS); posting takes records in batch order, so the batches of a
sync are uploaded in an order that keeps each card's records in counter order (a terminal's
records are cut into two batches where two cards cross between terminals in opposite
directions). Posting therefore raises no card-vs-account flags and the closes no exceptions.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import heapq
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from accounts.timeutil import BUSINESS_TZ, business_day
from merchants.models import MerchantKind

HISTORY_DAYS = 40
PER_DAY = 300  # purchases on a weekday; top-ups come on top, when cards run low
# Terminals upload what they hold after breakfast, after lunch and at night, and the worker posts
# it: each batch costs a transaction, and a quiet demo terminal makes a few dozen records a day.
SYNC_HOURS = (10.5, 15.0, 23.75)
BATCH_MAX = 500  # records in a TXN_BATCH (the protocol's limit)
LOW_BALANCE = 2000  # fen: below this a card goes to a top-up point
OPEN = {"dining": (6.5, 21.5), "water": (6.0, 23.5), "retail": (8.0, 22.5), "topup": (8.0, 20.0)}
SHARE = {"dining": 0.62, "water": 0.22, "retail": 0.16}  # of the day's purchases
WEEKEND = {"dining": 0.6, "water": 0.9, "retail": 1.2}
# Statement steps from the application window's first day (U§11): which statements stop where.
STEPS = [(0, "apply"), (1, "check"), (2, "approve"), (3, "pay")]
TARGETS = ["paid", "approved", "checked", "applied"]  # merchant statements by code; the rest stay open


@dataclass
class HistoryPlan:
    first_day: dt.date  # the first day of trade; the demo is seeded that morning
    last_day: dt.date  # yesterday
    close_from: dt.date  # first of first_day's month: the month before go-live is closed empty
    today: dt.date
    per_day: int = PER_DAY
    seed: int = 2026


def history_plan(*, days: int = HISTORY_DAYS, per_day: int = PER_DAY, out=None) -> HistoryPlan | None:
    """The history's days ending yesterday, or None (with a printed note) when time-machine, a
    dev requirement, is not installed."""
    try:
        import time_machine  # noqa: F401
    except ImportError:
        if out is not None:
            out.write("Demo history skipped: time-machine is not installed (pip install -r requirements-dev.txt).")
        return None
    if days < 1:
        return None
    today = business_day()
    first = today - dt.timedelta(days=days)
    return HistoryPlan(first_day=first, last_day=today - dt.timedelta(days=1), close_from=first.replace(day=1),
                       today=today, per_day=per_day)


def _at(day: dt.date, hour: float) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), BUSINESS_TZ) + dt.timedelta(seconds=round(hour * 3600))


@contextlib.contextmanager
def seeding_clock(plan: HistoryPlan | None):
    """Seed at 05:00 of the history's first day (nothing when there is no history)."""
    if plan is None:
        yield
        return
    import time_machine

    with time_machine.travel(_at(plan.first_day, 5.0), tick=True):
        yield


# --- state -------------------------------------------------------------------------------------

@dataclass
class _Card:
    card_no: int
    card_type: int
    counter: int
    card_balance: int  # on the card (卡)
    host_balance: int  # the purse account (库), pending credit included
    pending: int
    weight: float
    topup_due: bool = False
    segment: object = None  # the not yet uploaded segment holding its latest record
    last: tuple = (0, 0)  # (terminal_id, time) of its last purchase: no accidental duplicate charges


@dataclass
class _Terminal:
    terminal_id: int
    kind: str
    key: bytes | None
    seq: int = 0
    batch_no: int = 0
    msg_seq: int = 0
    params_version: int = 0
    current: object = None  # its open segment


@dataclass(eq=False)
class _Segment:
    """Records of one terminal that go up in one batch, and the segments that must go up after."""

    terminal: _Terminal
    records: list = field(default_factory=list)
    after: list = field(default_factory=list)


@dataclass
class _Totals:
    records: Counter = field(default_factory=Counter)
    fen: Counter = field(default_factory=Counter)
    batches: int = 0
    posting_runs: int = 0
    intake_exceptions: int = 0
    posting_exceptions: int = 0
    flags: int = 0
    closed: int = 0
    close_exceptions: int = 0
    statements: Counter = field(default_factory=Counter)
    months: list = field(default_factory=list)


class _History:
    def __init__(self, plan: HistoryPlan, traveller):
        from accounts.selectors import cards_purse_state
        from devtools.simulator import operator_setup
        from merchants.selectors import merchant_users, merchants_active
        from terminals.selectors import merchant_terminal_ids

        self.plan, self.clock = plan, traveller
        self.rng = random.Random(plan.seed)
        self.t = _Totals()
        User = _user_model()
        self.centre = User.objects.get(username="centre")
        self.finance = User.objects.get(username="finance")
        self.operator_no = operator_setup().pk
        keys = _demo_keys()
        kinds = {MerchantKind.DINING: "dining", MerchantKind.WATER: "water", MerchantKind.RETAIL: "retail",
                 MerchantKind.TOPUP: "topup"}
        self.terminals: dict[str, list[_Terminal]] = {k: [] for k in kinds.values()}
        self.contacts = {}
        for merchant in merchants_active().order_by("code"):
            kind = kinds.get(merchant.kind)
            if kind is None:
                continue
            for tid in merchant_terminal_ids(merchant=merchant):
                self.terminals[kind].append(_Terminal(tid, kind, keys.get(tid)))
            contact = merchant_users(merchant=merchant).filter(role="contact").first()
            if contact is not None:
                self.contacts[merchant.pk] = contact.user
        self.by_id = {t.terminal_id: t for ts in self.terminals.values() for t in ts}
        self.cards = [
            _Card(r["card_no"], r["card_type"], r["card_counter"], r["card_balance"], r["balance"], r["pending"],
                  weight=self.rng.lognormvariate(0, 0.6))
            for r in sorted(cards_purse_state(active_only=True), key=lambda r: r["card_no"])
        ]
        self.weights = [c.weight for c in self.cards]
        # A card pays two or three times a day: a small demo gets fewer purchases, not busier cards.
        self.per_day = min(plan.per_day, round(2.5 * len(self.cards)))
        self.segments: list[_Segment] = []
        self.carry: list[tuple] = []  # top-ups due on a later day
        self.n = 0  # tie-breaker for the event heap

    # --- the clock ---------------------------------------------------------------------------

    def move(self, at: dt.datetime) -> None:
        self.clock.move_to(at)

    # --- terminals ---------------------------------------------------------------------------

    def sign_in_all(self) -> None:
        """Each morning every terminal signs in: the host records that it is alive and which
        block list it holds (it synchronised overnight), and answers with what it acknowledged."""
        from accounts.selectors import blocklist_version
        from terminals import host
        from terminals import wire as P

        version = blocklist_version()
        now = int(time.time())
        for term in self.by_id.values():
            body = P.SignIn(firmware_version=1, blocklist_version=version, params_version=term.params_version,
                            last_seq=term.seq, unsent=0, clock=now)
            # The gateway's sign-in minus the wire and the session checks of handle_request.
            _, reply = host.status_reply(term.terminal_id, body, P.MsgType.SIGN_IN | 0x80)
            term.params_version = reply.params_version
            term.seq = max(term.seq, reply.ack_upto)

    def _segment(self, term: _Terminal) -> _Segment:
        seg = _Segment(term)
        if term.current is not None:
            term.current.after.append(seg)  # a terminal's own records stay in order
        term.current = seg
        self.segments.append(seg)
        return seg

    def _place(self, term: _Terminal, card: _Card) -> _Segment:
        """The segment for the card's next record at `term`: after the segment holding its
        previous record; a new one if that segment must already come after this one."""
        seg = term.current or self._segment(term)
        prev = card.segment
        if prev is not None and prev is not seg:
            if _reaches(seg, prev):
                seg = self._segment(term)
            prev.after.append(seg)
        return seg

    def sync(self, at: dt.datetime) -> None:
        """Every terminal uploads what it holds (in an order that keeps each card's records in
        counter order), then the worker posts the batches."""
        from terminals import wire as P
        from terminals.ingest.intake import batch_intake

        self.move(at)
        batch_ids = []
        for seg in _topological(self.segments):
            term = seg.terminal
            for i in range(0, len(seg.records), BATCH_MAX):
                chunk = seg.records[i:i + BATCH_MAX]
                term.batch_no += 1
                term.msg_seq += 1
                body = P.TxnBatch(batch_no=term.batch_no, records=chunk).encode()
                frame = P.encode_frame(P.MsgType.TXN_BATCH, term.terminal_id, term.msg_seq, body, term.key) \
                    if term.key else b""
                result = batch_intake(terminal_id=term.terminal_id, batch_no=term.batch_no, msg_seq=term.msg_seq,
                                      raw_frame=frame, records=chunk)
                self.t.batches += 1
                self.t.intake_exceptions += result.exceptions
                batch_ids.append(result.batch_id)
        for seg in self.segments:
            for rec in seg.records:
                self.card_by_no[rec.card_no].segment = None
        self.segments = []
        for term in self.by_id.values():
            term.current = None
        self.post(batch_ids)

    def post(self, batch_ids: list[int]) -> None:
        """What the Celery worker does after the ACKs: a run takes the oldest unposted batch and
        coalesces those behind it."""
        from terminals.ingest.posting import batch_post

        while batch_ids:
            result = batch_post(batch_ids[0])
            self.t.posting_runs += 1
            self.t.posting_exceptions += result.get("exceptions", 0)
            self.t.flags += result.get("flags", 0)
            batch_ids = batch_ids[max(1, result.get("batches", 1)):]

    # --- one day -----------------------------------------------------------------------------

    def day(self, day: dt.date, tasks=()) -> None:
        """The day's trade; `tasks` are (hour, callable) for the office (statements at 10:00)."""
        from terminals.selectors import rate_at

        rate = rate_at(_at(day, 12))
        self.rates = (rate.board_fee_bp, rate.energy_fee_bp, rate.water_multiplier_pct)
        self.move(_at(day, 5.9))
        self.sign_in_all()
        events: list[tuple] = []
        weekend = day.weekday() >= 5
        for kind, share in SHARE.items():
            if not self.terminals[kind]:
                continue
            mean = self.per_day * share * (WEEKEND[kind] if weekend else 1.0)
            n = max(0, round(self.rng.gauss(mean, mean ** 0.5)))
            for ts in _times(self.rng, day, kind, n):
                self._push(events, ts, "purchase", kind)
        end = int(_at(day, 23.75).timestamp())
        carry, self.carry = self.carry, []
        for ts, card in carry:
            if ts < end:
                self._push(events, ts, "topup", card)
            else:
                self.carry.append((ts, card))
        for hour, task in tasks:
            self._push(events, int(_at(day, hour).timestamp()), "task", task)
        for hour in SYNC_HOURS:
            self._push(events, int(_at(day, hour).timestamp()), "sync", None)
        while events:
            ts, _, what, arg = heapq.heappop(events)
            now = dt.datetime.fromtimestamp(ts, dt.UTC)
            if what == "sync":
                self.sync(now)
            elif what == "purchase":
                self._purchase(events, ts, arg)
            elif what == "topup":
                self._topup(events, ts, arg)
            else:
                self.move(now)
                arg()

    def _push(self, events, ts, what, arg) -> None:
        self.n += 1
        heapq.heappush(events, (ts, self.n, what, arg))

    def _record(self, term: _Terminal, card: _Card, ts: int, kind: int, base: int, surcharge: int, operator_no: int):
        from terminals import wire as P

        seg = self._place(term, card)
        total = base + surcharge if kind == P.RecordKind.PURCHASE else -base
        term.seq += 1
        rec = P.Record(term_seq=term.seq, card_no=card.card_no, card_type=card.card_type, kind=kind,
                       card_counter=card.counter, base_amount=base, surcharge=surcharge,
                       balance_before=card.card_balance, balance_after=card.card_balance - total, time=ts,
                       operator_no=operator_no)
        seg.records.append(rec)
        card.counter += 1
        card.card_balance -= total
        card.segment = seg
        return rec

    def _purchase(self, events, ts: int, kind: str) -> None:
        from devtools.simulator import DINING_PRICES
        from terminals import wire as P

        term = self.rng.choice(self.terminals[kind])
        if kind == "dining":
            base = self.rng.choice(DINING_PRICES)
        elif kind == "water":
            base = self.rng.randrange(50, 400, 10)
        else:
            base = self.rng.randrange(150, 6000, 10)
        kind_no = {"dining": MerchantKind.DINING, "water": MerchantKind.WATER, "retail": MerchantKind.RETAIL}[kind]
        for _ in range(6):  # whoever is in the queue and can pay
            card = self.rng.choices(self.cards, weights=self.weights)[0]
            surcharge = P.surcharge_expected(base, card.card_type, kind_no, *self.rates)
            total = base + surcharge
            if card.last[0] == term.terminal_id and ts - card.last[1] < 120:
                continue
            if total > min(card.card_balance, card.host_balance):
                self._want_topup(events, ts, card)
                continue
            self._record(term, card, ts, P.RecordKind.PURCHASE, base, surcharge, 0)
            card.host_balance -= total
            card.last = (term.terminal_id, ts)
            self.t.records["purchase"] += 1
            self.t.fen["purchase"] += total
            if min(card.card_balance, card.host_balance) < LOW_BALANCE:
                self._want_topup(events, ts, card)
            return

    def _want_topup(self, events, ts: int, card: _Card) -> None:
        if card.topup_due:
            return
        card.topup_due = True
        at = dt.datetime.fromtimestamp(ts, BUSINESS_TZ) + dt.timedelta(minutes=self.rng.uniform(10, 600))
        opens, closes = OPEN["topup"]
        hour = at.hour + at.minute / 60
        day = at.date()
        if hour >= closes:
            day, hour = day + dt.timedelta(days=1), self.rng.uniform(opens, closes)
        elif hour < opens:
            hour = self.rng.uniform(opens, closes)
        ts2 = int(_at(day, hour).timestamp())
        if day == dt.datetime.fromtimestamp(ts, BUSINESS_TZ).date():
            self._push(events, ts2, "topup", card)
        else:
            self.carry.append((ts2, card))

    def _topup(self, events, ts: int, card: _Card) -> None:
        from devtools.simulator import TOPUP_AMOUNTS
        from terminals import wire as P

        card.topup_due = False
        if not self.terminals["topup"]:
            return
        term = self.rng.choice(self.terminals["topup"])
        if card.pending and self.rng.random() < 0.5:
            # The top-up point writes the holder's pending credit (a refund) onto the card.
            self._record(term, card, ts, P.RecordKind.DEPOSIT, card.pending, 0, 0)
            self.t.records["pending"] += 1
            self.t.fen["pending"] += card.pending
            card.pending = 0
            if min(card.card_balance, card.host_balance) >= LOW_BALANCE:
                return
        amount = self.rng.choice(TOPUP_AMOUNTS)
        self._record(term, card, ts + 20, P.RecordKind.DEPOSIT, amount, 0, self.operator_no)
        card.host_balance += amount
        self.t.records["deposit"] += 1
        self.t.fen["deposit"] += amount

    # --- closing and settling ----------------------------------------------------------------

    def close(self, day: dt.date, at: dt.datetime) -> None:
        from settlement.services import day_close

        self.move(at)
        dc = day_close(day=day)
        self.t.closed += 1
        self.t.close_exceptions += dc.open_exceptions

    def settle(self, year: int, month: int, at: dt.datetime) -> None:
        from settlement.services import month_bounds, settlement_compute

        self.move(at)
        start, end = month_bounds(year, month)
        settlement_compute(period_start=start, period_end=end, actor=self.centre)
        self.t.months.append(start)

    def workflow(self, month_start: dt.date, step: str) -> None:
        """Move the month's statements along: merchant statements (by code) stop at paid,
        approved, checked and applied; the catering surcharge statement is checked; the rest
        are left for the demo's users."""
        from settlement import services as S
        from settlement.selectors import statements_for

        period_end = month_start.replace(day=calendar.monthrange(month_start.year, month_start.month)[1])
        statements = list(statements_for(period_start=month_start, period_end=period_end)
                          .select_related("merchant").order_by("kind", "merchant__code"))
        merchant = [s for s in statements if s.kind == "merchant"]
        targets = dict(zip([s.pk for s in merchant], TARGETS, strict=False))
        order = TARGETS[::-1]  # applied < checked < approved < paid
        for st in statements:
            target = targets.get(st.pk, "checked" if st.kind == "surcharge" else None)
            if target is None:
                continue
            if step == "apply" and st.kind == "merchant" and st.merchant_id in self.contacts:
                S.statement_apply(actor=self.contacts[st.merchant_id], statement=st)
            elif step == "check" and order.index(target) >= 1:
                S.statement_check(actor=self.centre, statement=st, note="与商户核对无误（演示）")
            elif step == "approve" and order.index(target) >= 2:
                S.statement_approve(actor=self.finance, statement=st)
            elif step == "pay" and order.index(target) >= 3:
                S.statement_pay(actor=self.finance, statement=st, bank_ref=f"DEMO-{st.period_start:%Y%m}-{st.pk}")

    @property
    def card_by_no(self) -> dict[int, _Card]:
        if not hasattr(self, "_by_no"):
            self._by_no = {c.card_no: c for c in self.cards}
        return self._by_no


def _user_model():
    from django.contrib.auth import get_user_model

    return get_user_model()


def _demo_keys() -> dict[int, bytes]:
    """Terminal keys the demo seed wrote (shown once at registration), so uploads carry real
    frames; a terminal without one uploads without its frame kept."""
    path = settings.BASE_DIR / "var" / "demo-terminals.txt"
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].isdigit():
                with contextlib.suppress(ValueError):
                    out[int(parts[0])] = bytes.fromhex(parts[1])
    return out


def _reaches(a: _Segment, b: _Segment) -> bool:
    """Must b already come after a?"""
    seen, stack = set(), [a]
    while stack:
        seg = stack.pop()
        if seg is b:
            return True
        if id(seg) not in seen:
            seen.add(id(seg))
            stack.extend(seg.after)
    return False


def _topological(segments: list[_Segment]) -> list[_Segment]:
    """Segments in an order that respects every `after`, otherwise in the order they were opened."""
    index = {id(s): i for i, s in enumerate(segments)}
    waiting = {id(s): 0 for s in segments}
    for s in segments:
        for t in s.after:
            waiting[id(t)] += 1
    ready = [index[id(s)] for s in segments if not waiting[id(s)]]
    heapq.heapify(ready)
    out = []
    while ready:
        seg = segments[heapq.heappop(ready)]
        out.append(seg)
        for t in seg.after:
            waiting[id(t)] -= 1
            if not waiting[id(t)]:
                heapq.heappush(ready, index[id(t)])
    assert len(out) == len(segments), "segment order has a cycle"
    return out


_PROFILES: dict[str, tuple[list[int], list[float]]] = {}


def _times(rng: random.Random, day: dt.date, kind: str, n: int) -> list[int]:
    """n Unix times on `day`, spread like the simulator's rates for the kind (peaks at meals,
    showers in the evening), inside the opening hours."""
    from devtools.simulator import rate_per_minute

    if kind not in _PROFILES:
        opens, closes = OPEN[kind]
        kind_no = {"dining": MerchantKind.DINING, "water": MerchantKind.WATER, "retail": MerchantKind.RETAIL}[kind]
        minutes = [m for m in range(24 * 60) if opens <= m / 60 < closes]
        cum, total = [], 0.0
        for m in minutes:
            total += rate_per_minute(kind_no, m / 60)
            cum.append(total)
        _PROFILES[kind] = (minutes, cum)
    minutes, cum = _PROFILES[kind]
    base = int(_at(day, 0).timestamp())
    return sorted(base + m * 60 + rng.randrange(60) for m in rng.choices(minutes, cum_weights=cum, k=n))


def _month_after(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def history_add(*, plan: HistoryPlan, out) -> dict | None:
    """seed_demo's call: the history, or a note and its traceback when it failed (it was rolled
    back; the seeded demo stays usable and `make run` goes on)."""
    try:
        return history_generate(plan=plan, out=out)
    except Exception:  # noqa: BLE001 - a demo without history beats a demo that does not start
        import traceback

        out.write("Demo history failed and was rolled back; the demo has no history:\n" + traceback.format_exc())
        return None


def history_generate(*, plan: HistoryPlan, out=None) -> dict:
    """Trade, close and settle every day of the plan, in one transaction (a failure leaves the
    seeded demo without history). Returns the totals; prints one line to `out`."""
    import time_machine
    from django.utils import timezone

    from accounts.ledger import ledger_check
    from settlement.selectors import application_window, statements_for

    started = time.monotonic()
    p = plan
    # Workflow for the latest month whose application window has opened by today (U§11).
    month = p.today.replace(day=1)
    while True:
        month = (month - dt.timedelta(days=1)).replace(day=1)
        month_end = _month_after(month) - dt.timedelta(days=1)
        window = application_window(month_end)[0]
        if window <= p.today or month < p.close_from:
            break
    workflow_month = month if month >= p.close_from and window <= p.today else None
    steps = {window + dt.timedelta(days=k): step for k, step in STEPS} if workflow_month else {}

    present = timezone.now()  # the real (or the caller's) now: nothing may happen after it

    def not_after_now(at: dt.datetime) -> dt.datetime:
        return min(at, present)

    with transaction.atomic():
        with time_machine.travel(_at(p.first_day, 5.5), tick=True) as traveller:
            h = _History(p, traveller)
            day = p.close_from
            while day < p.first_day:  # the days of the month before go-live: closed, empty
                h.close(day, _at(p.first_day, 5.5))
                day += dt.timedelta(days=1)
            span = max(1, min(3, (p.today - p.first_day).days))
            for card in h.cards:  # go-live: every card is topped up within the first days
                if min(card.card_balance, card.host_balance) < LOW_BALANCE:
                    card.topup_due = True
                    d = p.first_day + dt.timedelta(days=h.rng.randrange(span))
                    h.carry.append((int(_at(d, h.rng.uniform(8.0, 19.5)).timestamp()), card))
            day = p.first_day
            while True:
                if day > p.first_day:
                    # The beat's jobs after midnight: close yesterday; on the 1st, settle the month.
                    h.close(day - dt.timedelta(days=1), not_after_now(_at(day, 10 / 60)))
                    prev = (day - dt.timedelta(days=1)).replace(day=1)
                    if day.day == 1 and prev >= p.close_from:
                        h.settle(prev.year, prev.month, not_after_now(_at(day, 20 / 60)))
                if day >= p.today:
                    break
                step = steps.pop(day, None)
                h.day(day, tasks=[(10.0, lambda s=step: h.workflow(workflow_month, s))] if step else [])
                day += dt.timedelta(days=1)
        for step_day in sorted(steps):  # steps due today happen now
            h.workflow(workflow_month, steps[step_day])
        problems = ledger_check()
        if problems:
            raise RuntimeError(f"the ledger does not balance: {problems[:3]}")
        for m in h.t.months:
            h.t.statements.update(statements_for(period_start=m, period_end=_month_after(m) - dt.timedelta(days=1))
                                  .values_list("status", flat=True))
    seconds = time.monotonic() - started
    t = h.t
    summary = {
        "days": (p.last_day - p.first_day).days + 1, "first_day": p.first_day, "last_day": p.last_day,
        "records": sum(t.records.values()), "by_kind": dict(t.records), "fen": dict(t.fen), "batches": t.batches,
        "intake_exceptions": t.intake_exceptions, "posting_exceptions": t.posting_exceptions, "flags": t.flags,
        "closed": t.closed, "close_exceptions": t.close_exceptions, "months": t.months,
        "statements": dict(t.statements), "ledger_problems": problems, "seconds": seconds,
    }
    if out is not None:
        out.write(
            f"Demo history: {summary['days']} days {p.first_day}…{p.last_day}, {summary['records']} records "
            f"({', '.join(f'{k} {v}' for k, v in sorted(t.records.items()))}) in {t.batches} batches, "
            f"{t.closed} days closed ({t.close_exceptions} open exceptions), statements "
            f"{', '.join(f'{k} {v}' for k, v in sorted(t.statements.items())) or 'none'}, "
            f"ledger balanced, {seconds:.1f} s."
        )
    return summary
