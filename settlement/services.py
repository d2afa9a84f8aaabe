"""Writes of settlement/: the daily close (R-DAY-1), monthly settlement (R-SET-*), merchant
refunds (R-DUP-*), correction forms (U§9) and graduation closure (R-CLOSE-2). Adjustments
(R-ADJ-1) are requested and approved in accounts (adjustment_request, adjustment_decide).

Money moves only through accounts (journal_post, purse_credit_pending, account_close). The close
reads in set-based SQL; staff actions validate, then write and audit in one transaction.
"""

from __future__ import annotations

import calendar
import datetime as dt
import time
from collections import defaultdict

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import daybook
from accounts.errors import BusinessError, NotAllowed
from accounts.ledger import journal_post
from accounts.models import Journal, LedgerAccount
from accounts.selectors import card_get
from accounts.services import (
    account_close,
    audit_write,
    permission_require,
    purse_credit_pending,
    system_account,
)
from accounts.timeutil import BUSINESS_TZ
from merchants.selectors import merchant_user_belongs
from moneyin import selectors as moneyin_selectors
from terminals import selectors as terminal_selectors
from terminals import services as terminal_services
from terminals.models import Record
from terminals.wire import RecordKind

from . import selectors
from .models import (
    CloseException,
    ClosureLine,
    Correction,
    DayAccountTotal,
    DayCardTypeTotal,
    DayClose,
    DayMerchantTotal,
    DayOperatorTotal,
    DayPurse,
    DayTerminalTotal,
    DayTrialBalance,
    GraduationClosure,
    MerchantPolicy,
    Refund,
    Statement,
)

CLOSE_LOCK = 0x43430003  # advisory lock (with the day's ordinal): one run of a day's close at a time
BLOCKLIST_GRACE = dt.timedelta(minutes=15)  # a terminal may apply a block-list change this late
# Source families of the journals that post terminal records (terminals/ingest/posting.py): one batch,
# a coalesced run of batches, records retried once money arrived, an exception reposted by staff.
RECORD_POSTING_SOURCES = ("batch", "batches", "intake", "retry", "staff")  # "intake": posted by the gateway's intake (issue 11)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise BusinessError(_("A reason is required."))
    return reason[:200]


def _own_merchant_only(actor, merchant_id: int | None) -> None:
    """A merchant user (never staff) acts for its own merchant only (R-MER-4); the permission
    alone would let it act on any merchant's statement or record."""
    if actor is None or actor.is_staff or actor.is_superuser:
        return
    if not merchant_user_belongs(user=actor, merchant_id=merchant_id):
        raise NotAllowed(_("A merchant user may act only for its own merchant (R-MER-4)."))


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), BUSINESS_TZ)
    return start, start + dt.timedelta(days=1)


# --- daily close -----------------------------------------------------------------------------

def management_fee(amount: int) -> int:
    """0.5% (千分之五) of `amount` fen, rounded half-up to the fen, integers only (R-SET-2):
    199 → 0.995 → 1; 100 → 0.5 → 1; 99 → 0.495 → 0. Nothing on a negative base."""
    return (max(amount, 0) * 5 + 500) // 1000


def day_close(*, day: dt.date, actor=None) -> DayClose:
    """Close (or re-run the close of) a business day that has ended (R-DAY-1). The day is first
    closed in the ledger, so a re-run reads exactly the same postings and gives the same numbers;
    exception rows already resolved stay resolved."""
    if actor is not None:
        permission_require(actor, "settlement.run_dayclose")
    started = time.monotonic()
    daybook.day_mark_closed(day=day)  # refuses a day that has not ended; waits for journals in flight
    terminal_services.record_days_summarise()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CLOSE_LOCK, day.toordinal()])
        now = timezone.now()
        dc = DayClose.objects.filter(day=day).first()
        if dc is None:
            dc = DayClose.objects.create(day=day, status=DayClose.Status.BALANCED, run_at=now, runs=0)
        for model in (DayMerchantTotal, DayTerminalTotal, DayOperatorTotal, DayCardTypeTotal, DayAccountTotal, DayPurse,
                      DayTrialBalance):
            model.objects.filter(day=day).delete()
        found: list[CloseException] = []
        totals = _close_records_and_accounts(dc, day, found)
        totals["purses"] = _close_purses(dc, day, found)
        totals.update(_close_lists(dc, day, found))
        totals["bank"] = _close_bank(dc, day, found)
        CloseException.objects.bulk_create(found, ignore_conflicts=True)
        # A difference found by an earlier run and gone now stays listed until staff resolve it.
        open_count = CloseException.objects.filter(day=day, resolved_at__isnull=True).count()
        dc.status = DayClose.Status.EXCEPTIONS if open_count else DayClose.Status.BALANCED
        dc.open_exceptions = open_count
        dc.totals = totals
        dc.run_at, dc.runs, dc.actor = now, dc.runs + 1, actor
        dc.records = totals["records"]
        for name in ("purchase_amount", "settled", "surcharge_amount", "held_amount", "deposit_amount"):
            setattr(dc, name, totals[name])
        dc.duration_ms = int((time.monotonic() - started) * 1000)
        dc.save()
        audit_write(action="day_close", actor=actor, channel="staff" if actor else "system", day=str(day),
                    run=dc.runs, open_exceptions=open_count)
    return dc


def _close_records_and_accounts(dc: DayClose, day: dt.date, found: list) -> dict:
    groups = terminal_selectors.day_record_groups(day=day)
    accounts = daybook.day_account_movements(day=day)
    trial = daybook.day_trial_balance(day=day)
    by_payable = selectors.merchant_by_payable(account_ids={a["account_id"] for a in accounts if a["kind"] == "merchant"})

    merchants: dict[int, dict] = defaultdict(lambda: defaultdict(int))
    terminals: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
    card_types: dict[int, dict] = defaultdict(lambda: defaultdict(int))
    operators: dict[int, dict] = defaultdict(lambda: defaultdict(int))
    t = defaultdict(int)
    for g in groups:
        n, amount = g["count"], g["amount"]
        t["records"] += n
        term = terminals[(g["terminal_id"], g["merchant_id"])]
        ct = card_types[g["card_type"]]
        if g["kind"] == RecordKind.PURCHASE:
            m = merchants[g["merchant_id"]]
            m["duplicates"] += g["duplicates"]
            held = n if g["status"] == Record.Status.HELD else 0  # offline without authorisation (R-TERM-2)
            # The split posting stored in each record (Record.merchant_amount, …), summed alike for
            # the day, the merchant, the terminal and the card type.
            for row in (t, m, term, ct):
                row["purchases"] += n
                row["purchase_amount"] += amount
                row["settled"] += g["settled"]
                row["surcharge_amount"] += g["surcharge_amount"]
                row["held_amount"] += g["held_amount"]
            for row in (t, m, term):
                row["held_count"] += held
        else:
            term["deposits"] += n
            term["deposit_amount"] += amount
            ct["deposits"] += n
            ct["deposit_amount"] += amount
            if g["operator_no"]:  # cash at a window; operator 0 only writes pending credit to the card
                t["deposit_amount"] += amount
                op = operators[g["operator_no"]]
                op["deposits"] += n
                op["deposit_amount"] += amount
            else:
                t["pending_written"] += amount

    cash_accounts: dict[int, int] = {}
    rows = []
    for a in accounts:
        rows.append(DayAccountTotal(day_close=dc, day=day, account_id=a["account_id"], kind=a["kind"],
                                    journal_kind=a["journal_kind"], source=a["source"][:40], movement=a["movement"],
                                    journals=a["journals"]))
        if a["kind"] == "merchant" and a["account_id"] in by_payable:
            m = merchants[by_payable[a["account_id"]]]
            if a["source"] in RECORD_POSTING_SOURCES:
                m["payable_from_batches"] += a["movement"]
            elif a["source"] == "refund":
                m["refunds"] -= a["movement"]
            elif a["source"] == "correction":
                m["corrections"] -= a["movement"]
        elif a["kind"] == "cash" and a["operator_id"]:
            cash_accounts[a["operator_id"]] = a["account_id"]
            op = operators[a["operator_id"]]
            op["cash_to_hand_over"] += a["movement"]
            if a["source"] in RECORD_POSTING_SOURCES:
                op["cash_from_terminals"] += a["movement"]
        elif a["kind"] in ("mgmt_fee", "card_fee", "surcharge", "suspense", "bank"):
            t[f"{a['kind']}_movement"] += a["movement"]
            if a["source"] in RECORD_POSTING_SOURCES:
                t[f"{a['kind']}_from_records"] += a["movement"]
    DayAccountTotal.objects.bulk_create(rows, batch_size=5000)

    DayMerchantTotal.objects.bulk_create(
        [DayMerchantTotal(day_close=dc, day=day, merchant_id=mid, **v) for mid, v in merchants.items() if mid],
        batch_size=5000,
    )
    DayTerminalTotal.objects.bulk_create(
        [DayTerminalTotal(day_close=dc, day=day, terminal_id=tid, merchant_id=mid, **v)
         for (tid, mid), v in terminals.items()], batch_size=5000,
    )
    DayCardTypeTotal.objects.bulk_create([DayCardTypeTotal(day_close=dc, day=day, card_type=k, **v)
                                          for k, v in card_types.items()])
    missing_cash = [op for op in operators if op not in cash_accounts]
    if missing_cash:  # deposits by an operator whose cash account did not move: shows as a difference
        from accounts.selectors import cash_accounts_by_operator

        cash_accounts.update(cash_accounts_by_operator(operator_nos=missing_cash))
    DayOperatorTotal.objects.bulk_create([
        DayOperatorTotal(day_close=dc, day=day, operator_id=op, cash_account_id=cash_accounts.get(op, 0), **v)
        for op, v in operators.items() if op in cash_accounts
    ])

    # Differences become exceptions (never silent fixes).
    for mid, v in merchants.items():
        if mid and v["payable_from_batches"] != v["settled"]:
            found.append(CloseException(
                day_close=dc, day=day, kind=CloseException.Kind.MERCHANT, ref=str(mid),
                amount=v["payable_from_batches"] - v["settled"],
                detail=f"payable credited {v['payable_from_batches']} fen by postings, records say {v['settled']}",
            ))
    # The catering surcharge payable is credit-normal, suspense debit-normal (held money is a credit).
    for kind, booked, stored in (("surcharge", t["surcharge_from_records"], t["surcharge_amount"]),
                                 ("suspense", -t["suspense_from_records"], t["held_amount"])):
        if booked != stored:
            found.append(CloseException(
                day_close=dc, day=day, kind=CloseException.Kind.ACCOUNT, ref=kind, amount=booked - stored,
                detail=f"{kind} account credited {booked} fen by postings, records say {stored}",
            ))
    for op, v in operators.items():
        if v["cash_from_terminals"] != v["deposit_amount"]:
            found.append(CloseException(
                day_close=dc, day=day, kind=CloseException.Kind.OPERATOR, ref=str(op),
                amount=v["cash_from_terminals"] - v["deposit_amount"],
                detail=f"cash booked {v['cash_from_terminals']} fen, deposit records {v['deposit_amount']}",
            ))
    debit, credit = sum(r["debit"] for r in trial), sum(r["credit"] for r in trial)
    if debit != credit:
        found.append(CloseException(day_close=dc, day=day, kind=CloseException.Kind.TRIAL_BALANCE, ref="day",
                                    amount=debit - credit, detail=f"debits {debit} fen, credits {credit} fen"))
    _close_trial_balance(dc, day, trial, found)
    fees = {"mgmt_fee": t["mgmt_fee_movement"], "card_fee": t["card_fee_movement"]}
    return {
        "records": t["records"], "purchases": t["purchases"], "purchase_amount": t["purchase_amount"],
        "settled": t["settled"], "surcharge_amount": t["surcharge_amount"], "held_count": t["held_count"],
        "held_amount": t["held_amount"], "deposit_amount": t["deposit_amount"],
        "pending_written": t["pending_written"], "surcharge_account_movement": t["surcharge_movement"],
        "suspense_movement": t["suspense_movement"], "bank_movement": t["bank_movement"], "fees": fees,
        "trial_balance": {"debit": debit, "credit": credit, "balanced": debit == credit},
        "merchants": len([m for m in merchants if m]), "terminals": len(terminals), "operators": len(operators),
    }


def _close_bank(dc: DayClose, day: dt.date, found: list) -> dict:
    """Bank clearing (issue 13): the day's bank_in movement of the bank clearing account must be
    the transfers the bank link credited that day; a statement difference not yet cleared by an
    approved adjustment (R-ADJ-1) stays an exception until it is."""
    figures = moneyin_selectors.bank_day_figures(day=day)
    booked = DayAccountTotal.objects.filter(day=day, kind="bank", journal_kind="bank_in").aggregate(
        s=Sum("movement"))["s"] or 0
    if booked != figures["transfer_amount"]:
        found.append(CloseException(day_close=dc, day=day, kind=CloseException.Kind.BANK, ref="transfers",
                                    amount=booked - figures["transfer_amount"],
                                    detail=f"bank clearing debited {booked} fen by bank transfers, "
                                           f"the transfers credited add up to {figures['transfer_amount']}"))
    open_diffs = moneyin_selectors.differences_open()
    for d in open_diffs:
        found.append(CloseException(day_close=dc, day=day, kind=CloseException.Kind.BANK, ref=f"diff:{d['id']}",
                                    amount=d["difference"],
                                    detail=f"statement {d['day']} RRN {d['rrn']} {d['kind']}: not yet adjusted"))
    return {**figures, "bank_in_movement": booked, "differences_open": len(open_diffs)}


def _close_trial_balance(dc: DayClose, day: dt.date, trial: list[dict], found: list) -> None:
    """Store the day's trial balance per account kind, and check each kind's opening against the
    last stored closing plus what the days in between moved (R-DAY-1: yesterday + movements)."""
    DayTrialBalance.objects.bulk_create([DayTrialBalance(day_close=dc, day=day, **row) for row in trial])
    prev_day = (DayTrialBalance.objects.filter(day__lt=day).order_by("-day").values_list("day", flat=True).first())
    expected = defaultdict(int)
    if prev_day is not None:
        for kind, closing in DayTrialBalance.objects.filter(day=prev_day).values_list("kind", "closing"):
            expected[kind] += closing
    for kind, moved in daybook.kind_movements_between(after=prev_day, before=day).items():
        expected[kind] += moved
    opening = {row["kind"]: row["opening"] for row in trial}
    for kind in sorted(set(expected) | set(opening)):
        if opening.get(kind, 0) != expected[kind]:
            found.append(CloseException(
                day_close=dc, day=day, kind=CloseException.Kind.TRIAL_BALANCE, ref=f"opening:{kind}"[:40],
                amount=opening.get(kind, 0) - expected[kind],
                detail=f"{kind} opening {opening.get(kind, 0)} fen, last closing + movements {expected[kind]}",
            ))


def _close_purses(dc: DayClose, day: dt.date, found: list) -> dict:
    """Every purse that moved: yesterday's closing + the day's movement must give its closing
    (its balance now less later days' movements)."""
    sql, params = daybook.purse_day_query(day=day)
    with connection.cursor() as cur:
        cur.execute(
            f"""INSERT INTO settlement_daypurse (day, account_id, opening, movement, closing)
                SELECT %s, q.account_id, q.closing - q.movement, q.movement, q.closing FROM ({sql}) q""",
            [day, *params],
        )
        moved = cur.rowcount
        # The latest earlier closing of each purse that moved; NULL when it was never closed.
        cur.execute(
            """SELECT c.account_id, c.opening, p.closing
               FROM settlement_daypurse c
               LEFT JOIN LATERAL (SELECT closing FROM settlement_daypurse e
                                  WHERE e.account_id = c.account_id AND e.day < c.day
                                  ORDER BY e.day DESC LIMIT 1) p ON TRUE
               WHERE c.day = %s AND (p.closing IS NULL OR p.closing <> c.opening)""",
            [day],
        )
        rows = cur.fetchall()
        first_time = [a for a, _, prev in rows if prev is None]
        before = {}
        if first_time:
            bsql, bparams = daybook.purse_balance_before_query(day=day, account_ids_sql="SELECT unnest(%s::bigint[])")
            cur.execute(bsql, [*bparams, first_time])
            before = dict(cur.fetchall())
    mismatched = 0
    for account_id, opening, prev in rows:
        expected = prev if prev is not None else before.get(account_id, 0)
        if expected != opening:
            mismatched += 1
            found.append(CloseException(
                day_close=dc, day=day, kind=CloseException.Kind.PURSE, ref=str(account_id), amount=opening - expected,
                detail=f"opening {opening} fen rebuilt from its balance, yesterday's closing {expected}",
            ))
    return {"moved": moved, "mismatched": mismatched}


def _close_lists(dc: DayClose, day: dt.date, found: list) -> dict:
    start, end = _day_bounds(day)
    flags_open = terminal_selectors.open_card_flags(limit=0)[0]
    flags_new, flag_rows = terminal_selectors.open_card_flags(limit=1000, raised_from=start, raised_to=end)
    for f in flag_rows:
        found.append(CloseException(day_close=dc, day=day, kind=CloseException.Kind.CARD_FLAG, ref=str(f["id"]),
                                    amount=f["actual"] - f["expected"],
                                    detail=f"card {f['card_no']} {f['kind']}: host {f['expected']}, card {f['actual']}"))
    rec_open = terminal_selectors.open_record_exceptions(limit=0)[0]
    rec_new, rec_rows = terminal_selectors.open_record_exceptions(limit=1000, received_from=start, received_to=end)
    for r in rec_rows:
        found.append(CloseException(day_close=dc, day=day, kind=CloseException.Kind.RECORD, ref=str(r["id"]),
                                    amount=r["base_amount"],
                                    detail=f"T{r['terminal_id']}#{r['term_seq']} card {r['card_no']}: "
                                           f"{', '.join(r['problems'])}"[:300]))
    health = terminal_selectors.day_terminal_health(
        day_start=start, blocklist_required=daybook.blocklist_version_before(end - BLOCKLIST_GRACE)
    )
    return {
        "card_flags": {"open": flags_open, "raised": flags_new},
        "record_exceptions": {"open": rec_open, "received": rec_new},
        "terminals_attention": health[:1000], "terminals_attention_count": len(health),
        **terminal_selectors.open_other_exceptions(),
    }


@transaction.atomic
def close_exception_resolve(*, actor, exception: CloseException, resolution: str) -> CloseException:
    """Staff record how a difference was resolved; the day turns balanced when none is left."""
    permission_require(actor, "settlement.resolve_closeexception")
    resolution = _reason(resolution)
    exc = CloseException.objects.select_for_update().get(pk=exception.pk)
    if exc.resolved_at:
        raise BusinessError(_("This exception is already resolved."))
    exc.resolved_at, exc.resolved_by, exc.resolution = timezone.now(), actor, resolution
    exc.save(update_fields=["resolved_at", "resolved_by", "resolution"])
    left = CloseException.objects.filter(day=exc.day, resolved_at__isnull=True).count()
    DayClose.objects.filter(day=exc.day).update(
        open_exceptions=left, status=DayClose.Status.EXCEPTIONS if left else DayClose.Status.BALANCED
    )
    audit_write(action="close_exception_resolve", actor=actor, reason=resolution, day=str(exc.day), kind=exc.kind,
                ref=exc.ref)
    return exc


def days_close_due(*, today: dt.date | None = None, max_days: int = 31) -> list[DayClose]:
    """Close every ended day since the last closed one (yesterday, normally); for the beat task."""
    today = today or daybook.business_day()
    last = DayClose.objects.order_by("-day").values_list("day", flat=True).first()
    day = max(last + dt.timedelta(days=1), today - dt.timedelta(days=max_days)) if last else today - dt.timedelta(days=1)
    out = []
    while day < today:
        out.append(day_close(day=day))
        day += dt.timedelta(days=1)
    return out


# --- monthly settlement ----------------------------------------------------------------------

def month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


_UPSERT = """
    ON CONFLICT ON CONSTRAINT one_statement_per_period DO UPDATE SET
        purchases = EXCLUDED.purchases, consumption = EXCLUDED.consumption, refunds = EXCLUDED.refunds,
        corrections = EXCLUDED.corrections, held_count = EXCLUDED.held_count, held_amount = EXCLUDED.held_amount,
        fee_base = EXCLUDED.fee_base, fee = EXCLUDED.fee, net = EXCLUDED.net, computed_at = EXCLUDED.computed_at
    WHERE settlement_statement.status IN ('open', 'applied')"""


def settlement_compute(*, period_start: dt.date, period_end: dt.date, actor=None, merchant_ids=None) -> int:
    """Compute (or recompute) the statements of a period from its daily closes, in two
    INSERT … SELECT statements (R-SET-1, R-SET-2). Every day of the period must be closed. A
    statement already checked, approved or paid is left exactly as it is. Returns the number of
    statements written."""
    if actor is not None:
        permission_require(actor, "settlement.check_statement")
    if period_end < period_start:
        raise BusinessError(_("The period ends before it starts."))
    days = (period_end - period_start).days + 1
    closed = daybook.days_closed(start=period_start, end=period_end)
    have = set(DayClose.objects.filter(day__gte=period_start, day__lte=period_end).values_list("day", flat=True))
    if len(closed & have) != days:
        missing = sorted({period_start + dt.timedelta(days=i) for i in range(days)} - (closed & have))
        days_text = ", ".join(map(str, missing[:5])) + ("…" if len(missing) > 5 else "")
        raise BusinessError(_("Days not closed yet: %(days)s.") % {"days": days_text})
    now = timezone.now()
    merchant_filter, extra = "", []
    if merchant_ids is not None:
        merchant_filter, extra = "AND merchant_id = ANY(%s)", [list(merchant_ids)]
    with transaction.atomic(), connection.cursor() as cur:
        # Fee: 0.5% of what is actually settled (consumption less refunds and corrections),
        # half-up once per settlement, integer arithmetic (R-SET-2): the sums are cast to bigint,
        # or PostgreSQL would divide numerics and round 0.995 up to 1.
        cur.execute(
            f"""INSERT INTO settlement_statement (kind, merchant_id, period_start, period_end, status, purchases,
                    consumption, refunds, corrections, held_count, held_amount, fee_base, fee, net, computed_at,
                    applied_late, check_note, bank_ref)
                SELECT 'merchant', merchant_id, %s, %s, 'open', purchases, consumption, refunds, corrections,
                       held_count, held_amount, fee_base, (fee_base * 5 + 500) / 1000,
                       consumption - refunds - corrections - (fee_base * 5 + 500) / 1000, %s, FALSE, '', ''
                FROM (SELECT merchant_id, SUM(purchases)::bigint AS purchases, SUM(settled)::bigint AS consumption,
                             SUM(refunds)::bigint AS refunds, SUM(corrections)::bigint AS corrections,
                             SUM(held_count)::bigint AS held_count, SUM(held_amount)::bigint AS held_amount,
                             GREATEST(SUM(settled) - SUM(refunds) - SUM(corrections), 0)::bigint AS fee_base
                      FROM settlement_daymerchanttotal WHERE day BETWEEN %s AND %s {merchant_filter}
                      GROUP BY merchant_id) t
                {_UPSERT}""",
            [period_start, period_end, now, period_start, period_end, *extra],
        )
        n = cur.rowcount
        if merchant_ids is None:
            # The catering surcharge, settled to the catering centre separately (R-SUR-1); no fee. What
            # was collected is the days' stored surcharge_amount (the close checks it against the
            # ledger); what went back is the refunds taken from the surcharge account.
            cur.execute(
                f"""INSERT INTO settlement_statement (kind, merchant_id, period_start, period_end, status, purchases,
                        consumption, refunds, corrections, held_count, held_amount, fee_base, fee, net, computed_at,
                        applied_late, check_note, bank_ref)
                    SELECT 'surcharge', NULL, %s, %s, 'open', 0, c, r, 0, 0, 0, 0, 0, c - r, %s, FALSE, '', ''
                    FROM (SELECT (SELECT COALESCE(SUM(surcharge_amount), 0) FROM settlement_dayclose
                                  WHERE day BETWEEN %s AND %s)::bigint AS c,
                                 (SELECT COALESCE(-SUM(movement), 0) FROM settlement_dayaccounttotal
                                  WHERE day BETWEEN %s AND %s AND kind = 'surcharge'
                                    AND source IN ('refund', 'refund-sur'))::bigint AS r) t
                    WHERE c <> 0 OR r <> 0
                    {_UPSERT}""",
                [period_start, period_end, now, period_start, period_end, period_start, period_end],
            )
            n += cur.rowcount
        audit_write(action="settlement_compute", actor=actor, channel="staff" if actor else "system",
                    period_start=str(period_start), period_end=str(period_end), statements=n)
    return n


def _locked(statement: Statement) -> Statement:
    return Statement.objects.select_for_update(of=("self",)).select_related("merchant__payable_account").get(
        pk=statement.pk)


@transaction.atomic
def statement_apply(*, actor, statement: Statement, today: dt.date | None = None) -> Statement:
    """A merchant applies for settlement of the previous month between the 11th and the 20th
    (U§11, R-SET-3). Before the window it is refused; after it, it is taken and marked late."""
    permission_require(actor, "settlement.apply_statement")
    st = _locked(statement)
    _own_merchant_only(actor, st.merchant_id)
    if st.status != Statement.Status.OPEN:
        raise BusinessError(_("This statement is %(status)s.") % {"status": st.get_status_display()})
    today = today or daybook.business_day()
    start, end = selectors.application_window(st.period_end)
    if today < start:
        raise BusinessError(_("Applications for this period open on %(start)s (U§11).") % {"start": start})
    st.status, st.applied_at, st.applied_by, st.applied_late = Statement.Status.APPLIED, timezone.now(), actor, today > end
    st.save(update_fields=["status", "applied_at", "applied_by", "applied_late"])
    audit_write(action="statement_apply", actor=actor, statement=st.pk, late=st.applied_late)
    return st


@transaction.atomic
def statement_check(*, actor, statement: Statement, note: str = "") -> Statement:
    """The centre checks the figures with the merchant (R-SET-3); the catering surcharge
    statement needs no application."""
    permission_require(actor, "settlement.check_statement")
    st = _locked(statement)
    allowed = {Statement.Status.APPLIED} | ({Statement.Status.OPEN} if st.kind == Statement.Kind.SURCHARGE else set())
    if st.status not in allowed:
        raise BusinessError(_("This statement is %(status)s; it must be applied for first.") % {
            "status": st.get_status_display()})
    st.status, st.checked_at, st.checked_by, st.check_note = Statement.Status.CHECKED, timezone.now(), actor, note[:200]
    st.save(update_fields=["status", "checked_at", "checked_by", "check_note"])
    audit_write(action="statement_check", actor=actor, reason=note, statement=st.pk)
    return st


@transaction.atomic
def statement_approve(*, actor, statement: Statement) -> Statement:
    permission_require(actor, "settlement.approve_statement")
    st = _locked(statement)
    if st.status != Statement.Status.CHECKED:
        raise BusinessError(_("This statement is %(status)s; the centre must check it first.") % {
            "status": st.get_status_display()})
    if st.checked_by_id == actor.pk:
        raise BusinessError(_("The person who checked a statement cannot also approve it."))
    st.status, st.approved_at, st.approved_by = Statement.Status.APPROVED, timezone.now(), actor
    st.save(update_fields=["status", "approved_at", "approved_by"])
    audit_write(action="statement_approve", actor=actor, statement=st.pk, net=st.net, fee=st.fee)
    return st


@transaction.atomic
def statement_pay(*, actor, statement: Statement, bank_ref: str) -> Statement:
    """Finance records the payout: the fee from the payable to the management-fee account
    (R-SET-2, M§44) and the net from the payable to bank clearing. A paid statement is final."""
    permission_require(actor, "settlement.pay_statement")
    bank_ref = _reason(bank_ref)
    # Refused, not cut: a reference that does not match the bank's record cannot be reconciled,
    # and PostgreSQL refuses NUL (the finance desk passes the POST field as typed).
    if len(bank_ref) > 60 or any(ord(c) < 32 for c in bank_ref):
        raise BusinessError(_("A bank reference is at most 60 printable characters."))
    st = _locked(statement)
    if st.status != Statement.Status.APPROVED:
        raise BusinessError(_("This statement is %(status)s; finance must approve it first.") % {
            "status": st.get_status_display()})
    if st.net < 0:
        raise BusinessError(_("Refunds exceed consumption: nothing to pay; the difference stays on the payable."))
    payable = st.merchant.payable_account if st.merchant_id else system_account(LedgerAccount.Kind.SURCHARGE)
    reason = f"settlement {st.period_start}…{st.period_end} {bank_ref}"
    if st.fee:
        st.fee_journal = journal_post(kind=Journal.Kind.TRANSFER, actor=actor, reason=reason,
                                      source=f"settle-fee:{st.pk}",
                                      lines=[(payable, st.fee), (system_account(LedgerAccount.Kind.MGMT_FEE), -st.fee)])
    if st.net:
        st.payout_journal = journal_post(kind=Journal.Kind.PAYOUT, actor=actor, reason=reason,
                                         source=f"settle-pay:{st.pk}",
                                         lines=[(payable, st.net), (system_account(LedgerAccount.Kind.BANK), -st.net)])
    st.status, st.paid_at, st.paid_by, st.bank_ref = Statement.Status.PAID, timezone.now(), actor, bank_ref[:60]
    st.save(update_fields=["status", "paid_at", "paid_by", "bank_ref", "fee_journal", "payout_journal"])
    audit_write(action="statement_pay", actor=actor, journal=st.payout_journal, statement=st.pk, net=st.net, fee=st.fee,
                bank_ref=bank_ref)
    return st


# --- refunds and corrections -----------------------------------------------------------------

def _charged_parts(record: Record) -> tuple[int, int]:
    """(to the merchant, to the surcharge account) as posting booked the record: what it stored."""
    return record.merchant_amount, record.surcharge_amount


def _already_returned(record: Record) -> int:
    refunded = sum(r.from_merchant + r.from_surcharge for r in Refund.objects.filter(record=record))
    corrected = sum(Correction.objects.filter(record=record, status=Correction.Status.DONE).values_list("amount", flat=True))
    return refunded + corrected


def _purse_for(record: Record):
    card = card_get(card_no=record.card_no)
    if card is None or card.status in ("closed",):
        raise BusinessError(_("Card %(card_no)s is closed; pay the holder out at finance instead.") % {
            "card_no": record.card_no})
    return card.purse


def _posted_purchase(record: Record) -> Record:
    record = Record.objects.select_for_update(of=("self",)).select_related("merchant__payable_account", "terminal").get(
        pk=record.pk)
    if record.kind != RecordKind.PURCHASE or record.status != Record.Status.POSTED or record.merchant_id is None:
        raise BusinessError(_("Only a posted, settleable purchase can be refunded or corrected."))
    return record


def _refund(*, actor, record: Record, kind: str, reason: str, from_merchant: int, from_surcharge: int) -> Refund:
    purse = _purse_for(record)
    try:
        with transaction.atomic():
            refund = Refund.objects.create(record=record, merchant=record.merchant, kind=kind, from_merchant=from_merchant,
                                           from_surcharge=from_surcharge, actor=actor, reason=reason)
    except IntegrityError:
        raise BusinessError(_("Record %(record)s was already refunded (%(kind)s).") % {
            "record": record, "kind": Refund.Kind(kind).label}) from None
    if from_merchant:
        refund.journal = purse_credit_pending(purse=purse, amount=from_merchant, kind=Journal.Kind.REFUND,
                                              source=f"refund:{refund.pk}", actor=actor, reason=reason,
                                              from_account=record.merchant.payable_account)
    if from_surcharge:
        refund.surcharge_journal = purse_credit_pending(purse=purse, amount=from_surcharge, kind=Journal.Kind.REFUND,
                                                        source=f"refund-sur:{refund.pk}", actor=actor, reason=reason,
                                                        from_account=system_account(LedgerAccount.Kind.SURCHARGE))
    refund.save(update_fields=["journal", "surcharge_journal"])
    audit_write(action="merchant_refund", actor=actor, journal=refund.journal, reason=reason, refund=refund.pk,
                record=record.pk, kind=kind, amount=from_merchant + from_surcharge)
    return refund


@transaction.atomic
def duplicate_refund(*, actor, record: Record, reason: str) -> list[Refund]:
    """Reverse a confirmed duplicate charge as a merchant refund (R-DUP-1, M§45): the holder's
    purse gets the whole charge back as pending credit, the merchant's part from its payable and
    the catering surcharge from the surcharge account. For a repeat offender (R-DUP-2, 退一赔一)
    the earlier charge it repeats is refunded too, wholly at the merchant's cost."""
    permission_require(actor, "settlement.add_refund")
    return _duplicate_refund(actor=actor, record=record, reason=reason)


@transaction.atomic
def duplicate_refund_confirm(*, actor, record: Record, reason: str) -> list[Refund]:
    """The merchant confirms in its portal that a suspected duplicate is one: the refund is at
    its own cost (R-DUP-1, M§45), so its confirmation is enough, for its own records only."""
    permission_require(actor, "merchants.use_portal")
    return _duplicate_refund(actor=actor, record=record, reason=reason)


def _duplicate_refund(*, actor, record: Record, reason: str) -> list[Refund]:
    reason = _reason(reason)
    record = _posted_purchase(record)
    _own_merchant_only(actor, record.merchant_id)
    if "suspected_duplicate" not in record.problems:
        raise BusinessError(_("This record is not a suspected duplicate; use a correction form (U§9)."))
    if _already_returned(record):
        raise BusinessError(_("Part of record %(record)s was already returned to the holder.") % {"record": record})
    merchant_part, surcharge_part = _charged_parts(record)
    out = [_refund(actor=actor, record=record, kind=Refund.Kind.DUPLICATE, reason=reason,
                   from_merchant=merchant_part, from_surcharge=surcharge_part)]
    policy = MerchantPolicy.objects.filter(merchant_id=record.merchant_id).first()
    if policy and policy.repeat_offender:
        original = terminal_selectors.record_duplicate_original(record=record)
        if original is None:
            raise BusinessError(_("The charge this duplicate repeats was not found; 退一赔一 needs both."))
        original = _posted_purchase(original)
        out.append(_refund(actor=actor, record=original, kind=Refund.Kind.COMPENSATION,
                           reason=f"退一赔一 (R-DUP-2): {reason}",
                           from_merchant=sum(_charged_parts(original)), from_surcharge=0))
    return out


@transaction.atomic
def merchant_offender_set(*, actor, merchant, offender: bool, reason: str) -> MerchantPolicy:
    """Staff mark (or clear) a merchant as a repeat duplicate-charge offender (R-DUP-2)."""
    permission_require(actor, "settlement.change_merchantpolicy")
    reason = _reason(reason)
    policy, _ = MerchantPolicy.objects.select_for_update().get_or_create(merchant=merchant)
    policy.repeat_offender, policy.reason, policy.changed_by = offender, reason, actor
    policy.save()
    audit_write(action="merchant_offender", actor=actor, reason=reason, merchant=merchant.code, offender=offender)
    return policy


@transaction.atomic
def correction_request(*, actor, record: Record, amount: int, reason: str, merchant_confirmed: bool,
                       holder_confirmed: bool) -> Correction:
    """Fill in a correction form (消费纠错处理单, U§9): an over-charge by staff error that the
    merchant and the holder both confirm (R-MER-3)."""
    permission_require(actor, "settlement.add_correction")
    reason = _reason(reason)
    if not (merchant_confirmed and holder_confirmed):
        raise BusinessError(_("Both the merchant and the holder must confirm the over-charge (U§9)."))
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise BusinessError(_("The amount must be a whole number of fen greater than zero."))
    record = _posted_purchase(record)
    _own_merchant_only(actor, record.merchant_id)
    merchant_part = _charged_parts(record)[0]
    pending = sum(Correction.objects.filter(record=record, status=Correction.Status.REQUESTED).values_list("amount", flat=True))
    if amount + pending + _already_returned(record) > merchant_part:
        raise BusinessError(_("At most %(left)s fen of this charge can still be corrected.") % {
            "left": merchant_part - pending - _already_returned(record)})
    corr = Correction.objects.create(record=record, merchant=record.merchant, amount=amount, reason=reason,
                                     merchant_confirmed=True, holder_confirmed=True, requested_by=actor)
    audit_write(action="correction_request", actor=actor, reason=reason, correction=corr.pk, record=record.pk,
                amount=amount)
    return corr


@transaction.atomic
def correction_decide(*, actor, correction: Correction, approve: bool, note: str = "") -> Correction:
    """The centre processes the form: the amount goes back to the holder's purse as pending
    credit, from the merchant's payable; or the form is rejected with a note."""
    permission_require(actor, "settlement.decide_correction")
    corr = Correction.objects.select_for_update().select_related("merchant__payable_account").get(pk=correction.pk)
    if corr.status != Correction.Status.REQUESTED:
        raise BusinessError(_("This form is %(status)s.") % {"status": corr.get_status_display()})
    if not approve:
        note = _reason(note)
    if approve:
        record = _posted_purchase(corr.record)
        merchant_part = _charged_parts(record)[0]
        if corr.amount + _already_returned(record) > merchant_part:
            raise BusinessError(_("The charge was already returned to the holder in part; the form exceeds the rest."))
        corr.journal = purse_credit_pending(purse=_purse_for(record), amount=corr.amount, kind=Journal.Kind.REFUND,
                                            source=f"correction:{corr.pk}", from_account=corr.merchant.payable_account,
                                            actor=actor, reason=f"消费纠错 {corr.reason}")
    corr.status = Correction.Status.DONE if approve else Correction.Status.REJECTED
    corr.decided_by, corr.decided_at, corr.decision_note = actor, timezone.now(), note[:200]
    corr.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "journal"])
    audit_write(action="correction_decide", actor=actor, journal=corr.journal, reason=note, correction=corr.pk,
                approved=approve)
    return corr


# --- graduation closure (R-CLOSE-2) -----------------------------------------------------------

def graduation_close(*, actor, graduation_year: int, reason: str, unit_id: int | None = None) -> GraduationClosure:
    """Close a graduating cohort: each holder's cards closed and balance paid to their bank card
    (accounts.account_close, payout "bank"), one holder at a time so one refusal stops nobody
    else. Holders with money but no bank card on file are listed and left open, never dropped."""
    permission_require(actor, "accounts.close_account")
    reason = _reason(reason)
    cohort = list(selectors.graduation_cohort(graduation_year=graduation_year, unit_id=unit_id))
    if not cohort:
        raise BusinessError(_("No open accounts graduate in %(year)s.") % {"year": graduation_year})
    label = f"{graduation_year}" + (f" unit {unit_id}" if unit_id else "")
    closure = GraduationClosure.objects.create(cohort=label, reason=reason, actor=actor, holders=len(cohort))
    audit_write(action="graduation_close", actor=actor, reason=reason, closure=closure.pk, holders=len(cohort))
    lines = []
    for holder in cohort:
        amount = holder.purse.account.balance
        line = ClosureLine(closure=closure, holder=holder, amount=amount, bank_card_no=holder.bank_card_no)
        if amount and not holder.bank_card_no:
            line.status, line.detail = ClosureLine.Status.NO_BANK_CARD, "no bank card on file"
        else:
            try:
                with transaction.atomic():
                    line.journal = account_close(actor=actor, holder=holder, payout="bank",
                                                 reason=f"毕业离校 {label}: {reason}")
                line.status = ClosureLine.Status.PAID if line.journal else ClosureLine.Status.CLOSED
            except BusinessError as exc:
                line.status, line.detail = ClosureLine.Status.FAILED, "; ".join(exc.messages)[:200]
        lines.append(line)
    ClosureLine.objects.bulk_create(lines)
    paid = [x for x in lines if x.status == ClosureLine.Status.PAID]
    GraduationClosure.objects.filter(pk=closure.pk).update(
        paid=len(paid), total=sum(x.amount for x in paid),
        without_bank_card=sum(1 for x in lines if x.status == ClosureLine.Status.NO_BANK_CARD),
    )
    closure.refresh_from_db()
    return closure
