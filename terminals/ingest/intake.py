"""Intake of TXN_BATCHes: store the frames and their records durably, post them, then the
gateway ACKs (issue 11; docs/ingest.md).

One transaction per group of batches (the gateway's group commit; one batch per terminal in a
group), with the terminal rows locked so a terminal's batches are taken in turn. Records are
unpacked with struct and COPYed into a staging table; the checks that need no posting order
(field values, arithmetic, card, type, surcharge, assignment) and the posting (purchases, held
offline purchases, top-ups, late records and counter gaps with their flags) are set-based SQL.
What needs batch_post's rules (a freeze, a blocked card, a short balance) is left to it. A
record whose number the host holds is a duplicate, and a duplicate whose bytes differ is kept as
a conflict.
"""

from __future__ import annotations

import io
import operator
import struct
import threading
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from accounts.errors import InsufficientFunds
from accounts.ledger import (
    journal_lines_post,
    journal_open,
    purses_card_state_post,
    purses_lock,
)
from accounts.models import Journal
from accounts.timeutil import business_day
from merchants.models import MerchantKind

from .. import wire as protocol
from ..models import Assignment, LostRange, Terminal
from . import staging
from .cardflags import cardflags_resolve_filled


@dataclass
class IntakeResult:
    batch_id: int
    ack_upto: int
    stored: int
    duplicates: int
    exceptions: int
    to_post: int = 0  # records left 'received' for batch_post (the Celery path)


# A surcharge difference is reported but does not stop posting ("posted as charged").
SOFT_PROBLEMS = {"surcharge"}


# Each terminal's ack_upto moved over the contiguous run of numbers above it that the host holds
# or that were declared lost. Usually the numbers above it are exactly ack+1 … ack+n (count and
# maximum say so); otherwise stored records and lost ranges are merged as intervals in order of
# their start, and the run ends at the first interval that starts beyond everything before it + 1.
_ACKS = """
WITH v AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, ack)),
agg AS (
    SELECT v.id, v.ack, COUNT(r.term_seq) AS n, MAX(r.term_seq) AS top,
        EXISTS (SELECT 1 FROM terminals_lostrange l WHERE l.terminal_id = v.id AND l.to_seq > v.ack) AS lost
    FROM v LEFT JOIN terminals_record r ON r.terminal_id = v.id AND r.term_seq > v.ack GROUP BY v.id, v.ack),
slow AS (SELECT id, ack FROM agg WHERE lost OR top - ack <> n),
iv AS (
    SELECT v.id, v.ack, r.term_seq AS s, r.term_seq AS e
    FROM slow v JOIN terminals_record r ON r.terminal_id = v.id AND r.term_seq > v.ack
    UNION ALL
    SELECT v.id, v.ack, l.from_seq, l.to_seq
    FROM slow v JOIN terminals_lostrange l ON l.terminal_id = v.id AND l.to_seq > v.ack),
o AS (
    SELECT id, ack, s, e, GREATEST(ack, MAX(e) OVER (PARTITION BY id ORDER BY s, e
                                                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS reach
    FROM iv),
g AS (SELECT id, s, e, MIN(s) FILTER (WHERE s > reach + 1) OVER (PARTITION BY id) AS gap FROM o),
merged AS (SELECT id, MAX(e) FILTER (WHERE gap IS NULL OR s < gap) AS upto FROM g GROUP BY id)
SELECT a.id, GREATEST(a.ack, CASE WHEN m.id IS NULL THEN a.top ELSE m.upto END)
FROM agg a LEFT JOIN merged m ON m.id = a.id  -- every slow terminal has intervals, so a row in merged
"""


def acks_advance(acks: dict[int, int]) -> dict[int, int]:
    """Each terminal's ack_upto moved over the contiguous run of stored (or declared lost)
    numbers above it, in one statement for a whole group."""
    with connection.cursor() as cur:
        cur.execute(_ACKS, [list(acks), list(acks.values())])
        return dict(cur.fetchall())


@dataclass
class BatchIn:
    """One TXN_BATCH as the gateway hands it over: the body undecoded (6 + 40 × count bytes,
    layout checked by the gateway); records are unpacked with struct and checked in SQL."""

    terminal_id: int
    batch_no: int
    msg_seq: int
    raw_frame: bytes
    body: bytes


# The group's terminals, read once per group with their rows locked (see ingest_terms).
_TERMS = """
INSERT INTO ingest_terms
SELECT v.id, v.ack, (SELECT MAX(r.term_seq) FROM terminals_record r WHERE r.terminal_id = v.id),
    o.merchant_id, date_trunc('second', o.valid_from), lr.id, lr.effective_from, t.min_interval_s
FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, ack)
JOIN terminals_terminal t ON t.id = v.id
LEFT JOIN (SELECT id, effective_from FROM terminals_surchargerate ORDER BY effective_from DESC LIMIT 1) lr ON true
LEFT JOIN terminals_assignment o ON o.terminal_id = v.id AND o.valid_to IS NULL
    AND NOT EXISTS (SELECT 1 FROM terminals_assignment l WHERE l.terminal_id = o.terminal_id AND l.valid_from > o.valid_from)
"""

# The checks made without posting order, as record_problems makes them and in its order: (the code,
# an SQL text over ingest_work's columns; the check, over the work statement's). What a record
# fails is kept as bits of ingest_work.faults and spelled out only for the records that have any
# (an array built for every record cost ~0.7 µs).
_CHECKS = (
    ("'field:card_type ' || card_type", "s.card_type NOT IN (1, 2, 3)"),
    ("'field:kind ' || kind", "s.kind NOT IN (1, 2)"),
    ("'field:flags 0x' || lpad(to_hex(flags), 2, '0')", "s.flags & ~%(known)s <> 0"),
    ("'field:reserved not 0'", "s.reserved <> 0"),
    ("'not_assigned'", "a.merchant_id IS NULL"),
    ("'unknown_card'", "c.card_type IS NULL"),
    ("'card_type_mismatch'", "c.card_type <> s.card_type"),
    ("'arithmetic'", """NOT CASE s.kind
        WHEN 1 THEN s.operator_no = 0 AND s.balance_after = s.balance_before - s.base_amount - s.surcharge
        WHEN 2 THEN s.surcharge = 0 AND s.balance_after = s.balance_before + s.base_amount
        ELSE false END"""),
    # protocol.surcharge_expected: rounded half up, in integers (the multiplier is never below 100)
    ("'surcharge'", """s.kind = 1 AND a.merchant_id IS NOT NULL AND s.surcharge <> CASE
        WHEN s.card_type NOT IN (2, 3) THEN 0
        WHEN m.kind = 1 THEN (2 * s.base_amount * (COALESCE(rt.board_fee_bp, 0) + COALESCE(rt.energy_fee_bp, 0))
                              + 10000) / 20000
        WHEN m.kind = 2 THEN (2 * s.base_amount * (COALESCE(rt.water_multiplier_pct, 100) - 100) + 100) / 200
        ELSE 0 END"""),
    ("'deposit_not_topup'", "s.kind = 2 AND a.merchant_id IS NOT NULL AND m.kind <> %(topup)s"),
)
_FAULTS = "\n    | ".join(f"CASE WHEN {check} THEN {1 << i} ELSE 0 END" for i, (_, check) in enumerate(_CHECKS))
_SOFT_FAULTS = sum(1 << i for i, (code, _) in enumerate(_CHECKS) if code.strip("'") in SOFT_PROBLEMS)
_PROBLEM_CODES = ("array_remove(ARRAY[" + ", ".join(f"CASE WHEN faults & {1 << i} <> 0 THEN {code} END"
                                                    for i, (code, _) in enumerate(_CHECKS)) + "]::text[], NULL)")

# The intake's temp tables, name → columns; each connection creates them once, and their rows
# go at commit (ON COMMIT DELETE ROWS).
_TEMP = {
    "ingest_stage": staging.TABLE_COLUMNS,
    "ingest_work": """seq bigint, batch_id bigint, terminal_id bigint, term_seq bigint, card_no bigint, card_type int,
        kind int, card_counter int, flags int, base_amount bigint, surcharge bigint, balance_before bigint,
        balance_after bigint, time timestamptz, operator_no bigint, raw bytea, is_new boolean, merchant_id bigint,
        merchant_kind int, payable_account_id bigint, purse_id bigint, min_interval_s int, faults int, status varchar(10)
        GENERATED ALWAYS AS (CASE WHEN faults & ~""" + str(_SOFT_FAULTS) + """ = 0 THEN 'received' ELSE 'exception' END)
        STORED""",
    # The purses the intake posts itself (few rows), with what they come to: the purse account's
    # net gain, the card state after the last record that was not late (counter and balance
    # packed; NULL when all were late), the pending credit spent.
    "ingest_fast": "purse_id bigint PRIMARY KEY, account_id bigint, net bigint, state bigint, from_pending bigint",
    # The journal lines of what the intake posts (debit positive), summed per account when posted.
    "ingest_lines": "account_id bigint, amount bigint",
    # Its records off the card's running order (late: below the counter expected; or after a gap),
    # and its offline purchases outside an authorised period (held).
    "ingest_odd": "seq bigint PRIMARY KEY, late boolean, want_counter bigint, want_before bigint, held boolean",
    # Its records that R-DUP-1 lists.
    "ingest_dup": "seq bigint PRIMARY KEY",
    # The group's TXN_BATCH frames, as they become terminals_batch rows.
    "ingest_frames": "terminal_id bigint, batch_no bigint, msg_seq bigint, raw bytea, count int",
    # The group's terminals: ack_upto and the highest number stored before the group (both read
    # with the terminal's row locked), the open assignment if none started after it, and the
    # latest surcharge rate (the same in every row), the terminal's duplicate guard (R-DUP-1).
    "ingest_terms": """terminal_id bigint PRIMARY KEY, ack bigint, top bigint, merchant_id bigint, since timestamptz,
        rate_id bigint, rate_from timestamptz, min_interval_s int""",
    "ingest_conflicts": "batch_id bigint",
}

# Each staged record: whether it is the first of its (terminal, term_seq) in the group and new
# to the host, the merchant at its time, the card, and the checks it fails.
_WORK = f"""
INSERT INTO ingest_work (seq, batch_id, terminal_id, term_seq, card_no, card_type, kind, card_counter, flags,
    base_amount, surcharge, balance_before, balance_after, time, operator_no, raw, is_new, merchant_id,
    merchant_kind, payable_account_id, purse_id, min_interval_s, faults)
-- The usual case is read once per group into ingest_terms, not per record: the terminal's open
-- assignment when none started after it, and the latest surcharge rate; a record older than
-- either looks it up.
SELECT s.seq, s.batch_id, s.terminal_id, s.term_seq, s.card_no, s.card_type, s.kind, s.card_counter, s.flags,
    s.base_amount, s.surcharge, s.balance_before, s.balance_after, s.at, s.operator_no,
    s.raw,
    -- A record above its terminal's highest stored number is new without a probe of the
    -- (terminal, term_seq) index; below it, one probe (a subquery in CASE runs only when needed;
    -- as an anti-join the planner may hash the whole record table: it did, once the table
    -- outgrew its statistics).
    s.first AND CASE WHEN s.term_seq > top.top OR top.top IS NULL THEN true ELSE NOT EXISTS (
        SELECT 1 FROM terminals_record r WHERE r.terminal_id = s.terminal_id AND r.term_seq = s.term_seq) END,
    a.merchant_id, m.kind, m.payable_account_id, c.purse_id, top.min_interval_s,
    {_FAULTS}
FROM (SELECT st.*, to_timestamp(st.time) AS at, {{first}} AS first FROM ingest_stage st) s
JOIN ingest_terms top ON top.terminal_id = s.terminal_id
-- The older cases as subqueries inside CASE, run only for the records that need them (a lateral
-- join's plan nodes cost ~1 µs a record even when a one-time filter skips them).
CROSS JOIN LATERAL (SELECT
    CASE WHEN top.since <= s.at THEN top.merchant_id ELSE (
        SELECT a.merchant_id FROM terminals_assignment a
        WHERE a.terminal_id = s.terminal_id AND date_trunc('second', a.valid_from) <= s.at
          AND (a.valid_to IS NULL OR s.at < a.valid_to)
        ORDER BY a.valid_from DESC LIMIT 1) END AS merchant_id,
    CASE WHEN top.rate_from <= s.at THEN top.rate_id ELSE (
        SELECT r.id FROM terminals_surchargerate r WHERE r.effective_from <= s.at
        ORDER BY r.effective_from DESC LIMIT 1) END AS rate_id) a
LEFT JOIN merchants_merchant m ON m.id = a.merchant_id
LEFT JOIN accounts_card c ON c.card_no = s.card_no
LEFT JOIN terminals_surchargerate rt ON rt.id = a.rate_id
"""

# Purses whose new records the intake posts itself: the host balance covers every purchase at
# its turn (cash deposits add to it), the pending credit covers the pending-credit deposits, every
# cash deposit names a cashier with a cash account, no card of the purse waits for the Celery path
# (order), and no card was ever on the block list. An offline purchase outside an authorised
# period is posted held (R-TERM-2), as batch_post does. The card state is followed as
# batch_post follows it, record after record: the host expects the card's next counter (one past
# the highest seen) and the balance the last record in counter order left. A record below that
# counter is late (posted, the card state stays, the gap flags it fills are closed); one above it
# leaves a gap (posted, flagged counter_gap, and balance if it differs too, as the missing records
# may explain it). A balance difference with no gap may freeze the card (R-FREEZE-1): that purse,
# and any other case, goes to batch_post, which knows every case; the outcome is the same either way.
_FAST = """
WITH r0 AS (
    SELECT w.seq, w.batch_id, w.term_seq, w.terminal_id, w.time, w.purse_id, w.card_no, w.kind, w.flags,
        w.operator_no, w.card_counter, w.balance_before, w.balance_after, w.base_amount, w.surcharge, p.account_id,
        w.payable_account_id, w.merchant_kind,
        p.card_counter AS host_counter, p.card_balance AS host_balance, p.pending, s.gain,
        -- the earlier record with the highest counter, with the balance it left (counter and
        -- balance packed in one bigint: 16 and 32 bits on the wire): the last record that was not
        -- late, as counters rise strictly from one such record to the next
        MAX(w.card_counter::bigint << 32 | w.balance_after) OVER o AS top,
        -- what the purse account gained before the record (purchases take, cash deposits give);
        -- int8_sum: SUM would build a numeric for every record (migration 0010)
        COALESCE(int8_sum(s.gain) OVER o, 0) AS gained_before,
        -- the purse's record before it, for R-DUP-1 when at the same terminal (one batch per
        -- terminal in a group): in the same window pass
        LAG(w.batch_id) OVER o AS prev_batch, LAG(w.card_no) OVER o AS prev_card, LAG(w.kind) OVER o AS prev_kind,
        LAG(w.base_amount) OVER o AS prev_base, LAG(w.time) OVER o AS prev_time, w.min_interval_s
    FROM ingest_work w JOIN accounts_purse p ON p.id = w.purse_id
    CROSS JOIN LATERAL (SELECT CASE WHEN w.kind = 1 THEN -(w.base_amount + w.surcharge)
                                    WHEN w.operator_no <> 0 THEN w.base_amount ELSE 0 END AS gain) s
    WHERE w.is_new AND w.status = 'received'
    -- one frame for all, so one window pass over one sort
    WINDOW o AS (PARTITION BY w.purse_id ORDER BY w.batch_id, w.term_seq
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
r1 AS (
    SELECT r0.*, gained_before + gain AS gained, GREATEST(host_counter, (top >> 32) + 1) AS want_counter,
        CASE WHEN top >> 32 >= host_counter THEN top & 4294967295 ELSE host_balance END AS want_before
    FROM r0),
r AS (SELECT seq, batch_id, term_seq, purse_id, account_id, card_no, terminal_id, time, kind, flags, operator_no,
             card_counter,
             balance_before, balance_after, base_amount, surcharge, payable_account_id, merchant_kind, pending, gain,
             gained, want_counter, want_before, top, card_counter < want_counter AS late,
             prev_batch, prev_card, prev_kind, prev_base, prev_time, min_interval_s FROM r1),
-- per purse, in one pass: anything that needs batch_post, the lowest balance point, the pending
-- credit spent, the net gain, the card state after (counters rise strictly from one record that
-- is not late to the next, so the packed maximum of those is the last of them)
pa AS (
    SELECT purse_id, account_id, MIN(gained) AS low, MIN(pending) AS pending, int8_sum(gain) AS net,
        MAX(card_counter::bigint << 32 | balance_after) FILTER (WHERE NOT late) AS state,
        COALESCE(int8_sum(base_amount) FILTER (WHERE kind = 2 AND operator_no = 0), 0) AS from_pending,
        bool_or((card_counter = want_counter AND balance_before <> want_before)
                -- a counter the group already saw: the packed maximum cannot tell which came first
                OR card_counter = COALESCE(top >> 32, -1)
                -- at a terminal, records of another card of the purse or of the other kind: the
                -- record before is then not always the card's previous charge there (R-DUP-1)
                OR COALESCE(prev_batch = batch_id AND (prev_card <> card_no OR prev_kind <> kind), false)
                OR card_no IN (SELECT card_no FROM accounts_blocklistentry)
                OR (kind = 2 AND operator_no <> 0 AND operator_no NOT IN (
                        SELECT operator_id FROM accounts_ledgeraccount WHERE kind = 'cash' AND operator_id IS NOT NULL)))
            AS other
    FROM r GROUP BY purse_id, account_id),
ins AS (
    INSERT INTO ingest_fast SELECT pa.purse_id, pa.account_id, pa.net, pa.state, pa.from_pending
    FROM pa JOIN accounts_ledgeraccount a ON a.id = pa.account_id
    WHERE NOT pa.other AND a.balance + pa.low >= 0 AND pa.from_pending <= pa.pending
      AND pa.purse_id NOT IN (SELECT c.purse_id FROM accounts_card c JOIN terminals_record x ON x.card_no = c.card_no
                              WHERE x.status = 'received')
    RETURNING purse_id),
-- only the columns its readers use: it is materialised and read six times
fast AS (
    SELECT r.seq, r.batch_id, r.terminal_id, r.time, r.card_no, r.kind, r.operator_no, r.card_counter,
        r.base_amount, r.surcharge, r.payable_account_id, r.merchant_kind, r.want_counter, r.want_before, r.late,
        r.prev_batch, r.prev_base, r.prev_time, r.min_interval_s,
        CASE WHEN kind = 1 AND flags & %(offline)s <> 0 THEN NOT EXISTS (
               SELECT 1 FROM terminals_offlineauthorisation o WHERE o.terminal_id = r.terminal_id
               AND o.valid_from <= r.time AND r.time < o.valid_to) ELSE false END AS held
    FROM r JOIN ins USING (purse_id)),
odd AS (INSERT INTO ingest_odd SELECT seq, late, want_counter, want_before, held FROM fast
        WHERE card_counter <> want_counter OR held RETURNING 1),
-- The journal's lines, as batch_post books them: a purchase leaves the purse for the merchant's
-- payable (and the catering centre's surcharge account, R-SUR-1), or for suspense when held
-- (R-TERM-2); a cash deposit moves the cashier's cash on hand into the purse; a pending-credit
-- deposit moves nothing (the money is in the purse already). The purchases are summed per merchant
-- payable in one pass; the lines read those few rows.
-- (Grouped by kind rather than filtered: the planner, taking the filter as selective, sorted every
-- record for a few groups where a hash aggregate takes one pass.)
pm AS (SELECT payable_account_id, kind, merchant_kind = %(dining)s AS dining, held, int8_sum(base_amount) AS base,
              int8_sum(surcharge) AS surcharge
       FROM fast GROUP BY 1, 2, 3, 4),
lines AS (INSERT INTO ingest_lines
    SELECT account_id, -net FROM pa JOIN ins USING (purse_id)
    UNION ALL
    SELECT payable_account_id, -SUM(base + CASE WHEN dining THEN 0 ELSE surcharge END) FROM pm
    WHERE kind = 1 AND NOT held GROUP BY 1
    UNION ALL
    SELECT (SELECT id FROM accounts_ledgeraccount WHERE kind = 'surcharge'), -SUM(surcharge)
    FROM pm WHERE kind = 1 AND dining AND NOT held HAVING SUM(surcharge) <> 0
    UNION ALL
    SELECT (SELECT id FROM accounts_ledgeraccount WHERE kind = 'suspense'), -SUM(base + surcharge)
    FROM pm WHERE kind = 1 AND held HAVING COUNT(*) > 0
    UNION ALL
    SELECT c.id, SUM(fast.base_amount) FROM fast
    JOIN accounts_ledgeraccount c ON c.kind = 'cash' AND c.operator_id = fast.operator_no
    WHERE fast.kind = 2 AND fast.operator_no <> 0 GROUP BY c.id
    RETURNING 1),
-- R-DUP-1 as batch_post applies it: the previous charge of the same card at the same terminal (in
-- this group: the record before it at the terminal, as a posted purse's records there are of one
-- card and kind; or the latest one posted before), same amount, within the terminal's interval. The
-- index is probed only for a card's first charge at a terminal in the group.
dup AS (INSERT INTO ingest_dup
    SELECT seq FROM fast
    WHERE kind = 1 AND prev_batch = batch_id AND prev_base = base_amount
      AND abs(extract(epoch FROM time - prev_time)) <= min_interval_s
    UNION ALL
    SELECT f.seq FROM fast f CROSS JOIN LATERAL (
        SELECT x.base_amount, x.time FROM terminals_record x
        WHERE x.card_no = f.card_no AND x.terminal_id = f.terminal_id AND x.kind = 1
          AND x.status IN ('posted', 'held') AND x.time >= f.time - make_interval(secs => f.min_interval_s)
        ORDER BY x.term_seq DESC LIMIT 1) e
    WHERE f.kind = 1 AND f.prev_batch IS DISTINCT FROM f.batch_id AND e.base_amount = f.base_amount
      AND abs(extract(epoch FROM f.time - e.time)) <= f.min_interval_s
    RETURNING 1)
-- whether the intake posts any purse; whether money moves (pending-credit deposits move none),
-- records are late, gaps are left: the statements after this one leave out what the group does
-- not need
SELECT (SELECT COUNT(*) FROM ins) > 0, COALESCE(bool_or(kind = 1 OR operator_no <> 0), false),
       COALESCE(bool_or(late), false),
       COALESCE(bool_or(card_counter > want_counter), false)
FROM fast
"""

# The card-vs-account flags of the records the intake posts with a counter gap, as batch_post
# raises them (after the records are stored: a flag names its record).
_FLAGS = """
INSERT INTO terminals_cardflag (card_no, record_id, kind, expected, actual, at, resolution)
SELECT w.card_no, r.id, k.kind, k.expected, k.actual, %(now)s, ''
FROM ingest_odd o JOIN ingest_work w ON w.seq = o.seq
JOIN terminals_record r ON r.terminal_id = w.terminal_id AND r.term_seq = w.term_seq
CROSS JOIN LATERAL (VALUES (1, 'counter_gap', o.want_counter::bigint, w.card_counter::bigint),
                           (2, 'balance', o.want_before, w.balance_before)) k(n, kind, expected, actual)
WHERE NOT o.late AND w.card_counter <> o.want_counter AND (k.n = 1 OR w.balance_before <> o.want_before)
ORDER BY w.batch_id, w.term_seq, k.n
"""

# No ON CONFLICT: every record inserted here was probed new (is_new) while its terminal's row is
# locked, and every path that stores records takes that lock, so the unique constraint cannot
# fire; if it ever did, the group would fail and be retried batch by batch, nothing acknowledged.
# (Speculative insertion for ON CONFLICT cost 4-5 µs a record.)
_INSERT = """
INSERT INTO terminals_record (terminal_id, term_seq, batch_id, card_no, card_type, kind, card_counter, flags,
    base_amount, surcharge, balance_before, balance_after, time, operator_no, raw, status, problems, merchant_id,
    journal_id, posted_at, business_day, merchant_amount, surcharge_amount, held_amount)
SELECT terminal_id, term_seq, batch_id, card_no, card_type, kind, card_counter, flags, base_amount, surcharge,
    balance_before, balance_after, time, operator_no, raw,
    CASE WHEN NOT fast THEN status WHEN held THEN 'held' ELSE 'posted' END,
    -- in batch_post's order: the intake's problems, held (R-TERM-2), R-DUP-1, late (NULL arrays add
    -- nothing); the usual record has none, and a constant costs less than building it
    CASE WHEN faults = 0 AND NOT (held OR dup OR late) THEN '[]'::jsonb
         ELSE to_jsonb(""" + _PROBLEM_CODES + """ || CASE WHEN held THEN ARRAY['offline_unauthorised'] END
                       || CASE WHEN dup THEN ARRAY['suspected_duplicate'] END
                       || CASE WHEN late THEN ARRAY['late_record'] END) END,
    merchant_id,
    CASE WHEN fast THEN %(journal)s::bigint END, CASE WHEN fast THEN %(now)s::timestamptz END,
    CASE WHEN fast THEN %(day)s::date END,
    -- the stored split of a purchase, as posting._split decides it: a dining merchant's surcharge
    -- is the catering centre's (R-SUR-1), elsewhere the whole charge is the merchant's (R-SUR-2);
    -- held, all of it waits in suspense (R-TERM-2)
    CASE WHEN NOT fast OR kind <> 1 OR held THEN 0 WHEN merchant_kind = %(dining)s THEN base_amount
         ELSE base_amount + surcharge END,
    CASE WHEN fast AND kind = 1 AND NOT held AND merchant_kind = %(dining)s THEN surcharge ELSE 0 END,
    CASE WHEN fast AND held THEN base_amount + surcharge ELSE 0 END
FROM (SELECT w.terminal_id, w.term_seq, w.batch_id, w.card_no, w.card_type, w.kind, w.card_counter, w.flags,
          w.base_amount, w.surcharge, w.balance_before, w.balance_after, w.time, w.operator_no, w.raw, w.status,
          w.faults, w.merchant_id, w.merchant_kind,
          w.status = 'received' AND f.purse_id IS NOT NULL AS fast, d.seq IS NOT NULL AS dup, o.late IS TRUE AS late,
          o.held IS TRUE AS held
      FROM ingest_work w LEFT JOIN ingest_fast f ON f.purse_id = w.purse_id LEFT JOIN ingest_dup d ON d.seq = w.seq
      LEFT JOIN ingest_odd o ON o.seq = w.seq
      WHERE w.is_new) x
{order}
"""

# The work and record statements by whether every batch's numbers rise (staging.stage_buffer says
# so). Then each staged record is the first of its (terminal, term_seq) in the group, sparing the
# duplicate window's sort (~0.9 µs a record), and the records are staged and worked in the
# (terminal, number) index's order already, sparing the insert's sort (~0.35 µs).
_WORK_WHEN_RISING = {
    True: _WORK.replace("{first}", "true"),
    False: _WORK.replace("{first}", "ROW_NUMBER() OVER (PARTITION BY st.terminal_id, st.term_seq ORDER BY st.seq) = 1"),
}
_INSERT_WHEN_RISING = {True: _INSERT.replace("{order}", ""),
                       False: _INSERT.replace("{order}", "ORDER BY terminal_id, term_seq")}

# The card state of each purse posted here: after its last record that was not late, or as it was
# when all were late (the card was only seen); and the pending credit its deposits spent.
_STATES_SQL = """SELECT f.purse_id, COALESCE((f.state >> 32) + 1, p.card_counter),
                        COALESCE(f.state & 4294967295, p.card_balance), f.from_pending
                 FROM ingest_fast f JOIN accounts_purse p ON p.id = f.purse_id"""

# Each batch's counts, and its terminal's new ack_upto in the usual case, read off the work table:
# nothing was stored above the terminal's ack_upto before the group, no range is declared lost
# above it, and the group's new numbers are exactly ack+1 … ack+n (NULL otherwise: acks_advance).
_BATCHES = """
WITH c AS (
    SELECT w.batch_id, w.terminal_id, COUNT(*) FILTER (WHERE w.is_new) AS stored,
        COUNT(*) FILTER (WHERE NOT w.is_new) AS duplicates,
        COUNT(*) FILTER (WHERE w.is_new AND w.faults <> 0) AS problems,
        COUNT(*) FILTER (WHERE w.is_new AND w.status = 'received' AND f.purse_id IS NULL) AS to_post,
        MAX(w.term_seq) FILTER (WHERE w.is_new) AS hi
    FROM ingest_work w LEFT JOIN ingest_fast f ON f.purse_id = w.purse_id GROUP BY w.batch_id, w.terminal_id),
k AS (SELECT batch_id, COUNT(*) AS conflicts FROM ingest_conflicts GROUP BY batch_id)
UPDATE terminals_batch b SET stored = c.stored, duplicates = c.duplicates,
    exceptions = c.problems + COALESCE(k.conflicts, 0),
    posted_at = CASE WHEN c.to_post = 0 THEN %(now)s::timestamptz END
FROM c LEFT JOIN k ON k.batch_id = c.batch_id JOIN ingest_terms t ON t.terminal_id = c.terminal_id
WHERE b.id = c.batch_id
RETURNING b.id, b.stored, b.duplicates, b.exceptions, c.to_post, c.terminal_id,
    CASE WHEN COALESCE(t.top, 0) <= t.ack AND COALESCE(c.hi - t.ack, 0) = c.stored
          AND NOT EXISTS (SELECT 1 FROM terminals_lostrange l WHERE l.terminal_id = t.terminal_id AND l.to_seq > t.ack)
         THEN GREATEST(t.ack, c.hi) END
"""

# A resend of a number the host holds, with other bytes: kept for staff.
_CONFLICTS = """
WITH k AS (
    INSERT INTO terminals_recordconflict (record_id, batch_id, raw, received_at)
    SELECT r.id, w.batch_id, w.raw, %(now)s FROM ingest_work w
    JOIN terminals_record r ON r.terminal_id = w.terminal_id AND r.term_seq = w.term_seq
    WHERE NOT w.is_new AND r.raw <> w.raw
    RETURNING batch_id)
INSERT INTO ingest_conflicts SELECT batch_id FROM k
"""


# Groups of more records than this get statistics on their work table. Without them the planner
# takes the work table's filters as selective (0.5 % each) and joins by nested loops: an index
# probe per record where one hash join would do (25,000 probes in a large group), and the posting
# statement's CTEs looped over each other, purses × records comparisons, ~20 ms for a group of
# 1,000 records (a lunch-rush group) where a hash join takes 1 ms. Below ~500 records that costs
# less than the ANALYZE.
_ANALYZE_RECORDS = 500

# One group of this process writes the record table at a time. Groups inserting together all
# append to the same index pages (the id's rightmost leaf; the merchant index's, whose key is the
# same for a whole canteen's day) and to the WAL, and sleep on those pages' locks: with three
# groups in flight on 2 cores the CPU fell to ~55 % for a third of a second each round. One at a
# time, the others build their work tables and postings meanwhile (bench/ingest ACK p99
# 2.05-2.42 s → 1.78-2.03 s, alternating runs). It guards no data: the database's locks do that.
_RECORD_WRITER = threading.Lock()


def batches_intake(items: list[BatchIn], *, post: bool = True) -> list[IntakeResult]:
    """Store (and, where the outcome needs no posting order beyond the group, post) a group of
    batches of distinct terminals in one transaction; returns what each BATCH_ACK reports, in
    the order given. The caller answers the terminals only after this returns (the commit).

    Records the intake cannot post (exceptions aside) stay 'received' and their batch unposted:
    the caller enqueues batch_post for the batch ids with ``to_post``."""
    if len({i.terminal_id for i in items}) != len(items):
        raise ValueError("one batch per terminal in a group")
    if not items:
        return []
    try:
        return _batches_intake(items, post=post)
    except InsufficientFunds:  # a purse's balance fell under the group meanwhile: leave it all to batch_post
        return _batches_intake(items, post=False)


def intake_prepare() -> None:
    """Create this connection's staging tables now (a gateway's database threads at start), so the
    first group a connection takes does not pay for them (~0.1 s)."""
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [f"pg_temp.{list(_TEMP)[-1]}"])  # the last one created
        if cur.fetchone()[0] is not None:
            return
        for name, columns in _TEMP.items():
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DELETE ROWS")
        # A frame is compressed once, as it becomes a terminals_batch row (lz4 where the server has
        # it, migration 0006), not also on its way through here (pglz: ~0.5 µs a record).
        cur.execute("ALTER TABLE ingest_frames ALTER COLUMN raw SET STORAGE EXTERNAL")


@transaction.atomic
def _batches_intake(items: list[BatchIn], *, post: bool) -> list[IntakeResult]:
    now = timezone.now()
    tids = [i.terminal_id for i in items]
    with connection.cursor() as cur:
        # Compiling these statements (JIT) costs more than running them: 0.6 s of a 0.9 s group.
        cur.execute("SET LOCAL jit = off")
        # The group's sorts (25,000 records by terminal and number, by purse) spill to disk at 4 MB.
        cur.execute("SET LOCAL work_mem = '64MB'")
        intake_prepare()
        # Several groups may run in one transaction (tests): start from empty tables.
        # (ON COMMIT DELETE ROWS empties them at commit; a DELETE of an empty table costs nothing.)
        for table in _TEMP:
            cur.execute(f"DELETE FROM {table}")
        # A terminal's batches are taken in turn: its row is locked until commit (ids in order).
        cur.execute("SELECT id, ack_upto FROM terminals_terminal WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                    [sorted(tids)])
        acks = dict(cur.fetchall())
        if len(acks) != len(tids):
            raise Terminal.DoesNotExist(f"terminals {sorted(set(tids) - set(acks))}")
        cur.execute(_TERMS, [list(acks), list(acks.values())])
        # The frames go over by binary COPY too: as a bytea[] parameter each 8 KB frame was
        # quoted as hex text by psycopg2 and parsed back by the server (~0.6 µs a record).
        frames = io.BytesIO()
        frames.write(staging.COPY_HEAD)
        for i in items:
            frames.write(struct.pack(">hiqiqiqi", 5, 8, i.terminal_id, 8, i.batch_no, 8, i.msg_seq, len(i.raw_frame)))
            frames.write(i.raw_frame)
            frames.write(struct.pack(">ii", 4, (len(i.body) - 6) // protocol.RECORD_LEN))
        frames.write(staging.COPY_TAIL)
        frames.seek(0)
        _copy(cur, "COPY ingest_frames (terminal_id, batch_no, msg_seq, raw, count) FROM STDIN WITH (FORMAT binary)",
              frames)
        cur.execute(
            """INSERT INTO terminals_batch (terminal_id, batch_no, msg_seq, raw, received_at, count, stored,
                   duplicates, exceptions)
               SELECT terminal_id, batch_no, msg_seq, raw, %s, count, 0, 0, 0 FROM ingest_frames
               RETURNING id, terminal_id""",
            [now],
        )
        batch_of = {t: b for b, t in cur.fetchall()}
        # In terminal order, so that records that rise within their batch reach the record table's
        # (terminal, number) index in its order without a sort.
        buf, rising = staging.stage_buffer(sorted(((batch_of[i.terminal_id], i.terminal_id, memoryview(i.body)[6:])
                                                   for i in items), key=operator.itemgetter(1)))
        _copy(cur, staging.COPY_SQL, buf)
        cur.execute(_WORK_WHEN_RISING[rising], {"known": protocol.FLAGS_KNOWN, "topup": MerchantKind.TOPUP})
        if sum(len(i.body) - 6 for i in items) > _ANALYZE_RECORDS * protocol.RECORD_LEN:
            # The columns the posting statements filter and join on (why: _ANALYZE_RECORDS), from
            # a sample of 3,000 rows: the default's 30,000 gave the same plans for ~0.35 µs a
            # record more (0.5 in all).
            cur.execute("SET LOCAL default_statistics_target = 10")
            cur.execute("ANALYZE ingest_work (is_new, status, kind, operator_no, purse_id)")
        journal_id = day = None
        fast = moves = late = gap = False
        if post:
            purses_lock(ids_sql="SELECT purse_id FROM ingest_work WHERE is_new AND status = 'received'")
            cur.execute(_FAST, {"offline": protocol.FLAG_OFFLINE, "dining": MerchantKind.DINING})
            fast, moves, late, gap = cur.fetchone()
            if fast:
                day = business_day(now)
            if moves:
                first, last = min(batch_of.values()), max(batch_of.values())
                journal_id, day = journal_open(kind=Journal.Kind.PURCHASE, source=f"intake:{first}-{last}",
                                               reason=f"{len(items)} batch(es) posted at intake")
        with _RECORD_WRITER:
            cur.execute(_INSERT_WHEN_RISING[rising],
                        {"journal": journal_id, "now": now, "day": day, "dining": MerchantKind.DINING})
        cur.execute(_CONFLICTS, {"now": now})
        if fast:
            if gap:
                cur.execute(_FLAGS, {"now": now})
            purses_card_state_post(states_sql=_STATES_SQL, seen_at=now)
            if late:
                cur.execute("SELECT DISTINCT w.card_no FROM ingest_odd o JOIN ingest_work w ON w.seq = o.seq WHERE o.late")
                cardflags_resolve_filled(card_nos=[c for c, in cur.fetchall()], now=now)
        if journal_id is not None:
            # Last, so the hot accounts' rows stay locked only for the commit.
            journal_lines_post(journal_id=journal_id, lines_sql="SELECT account_id, amount FROM ingest_lines")
        cur.execute(_BATCHES, {"now": now})
        rows = cur.fetchall()
        counts = {b: (stored, dups, exc, to_post) for b, stored, dups, exc, to_post, _, _ in rows}
        new_acks = {t: ack for *_, t, ack in rows if ack is not None}
        if len(new_acks) < len(tids):
            new_acks.update(acks_advance({t: acks[t] for t in tids if t not in new_acks}))
        cur.execute(
            """UPDATE terminals_terminal t SET ack_upto = v.a, last_seen_at = %s
               FROM unnest(%s::bigint[], %s::bigint[]) v(id, a) WHERE t.id = v.id""",
            [now, tids, [new_acks[t] for t in tids]],
        )
    out = []
    for i in items:
        b = batch_of[i.terminal_id]
        stored, dups, exc, to_post = counts[b]
        out.append(IntakeResult(b, new_acks[i.terminal_id], stored, dups, exc, to_post))
    return out


def batch_intake(*, terminal_id: int, batch_no: int, msg_seq: int, raw_frame: bytes, records: list,
                 post: bool = True) -> IntakeResult:
    """Store one batch of decoded records (the serial line, tests, the demo history), posting what
    the intake can post unless ``post`` is False; see batches_intake."""
    body = struct.pack(">IH", batch_no & 0xFFFFFFFF, len(records)) + b"".join(_raw(r) for r in records)
    return batches_intake([BatchIn(terminal_id, batch_no, msg_seq, raw_frame, body)], post=post)[0]


@transaction.atomic
def records_lost(*, terminal_id: int, from_seq: int, to_seq: int) -> int:
    """The terminal no longer has from_seq … to_seq (0x11): mark them lost so ack_upto moves on.
    Only numbers the host lacks are marked; the range is an exception for staff."""
    terminal = Terminal.objects.select_for_update().get(pk=terminal_id)
    if from_seq < 1 or to_seq < from_seq:
        from ..wire import Nack, ProtocolError

        raise ProtocolError(Nack.MALFORMED)
    if to_seq > terminal.ack_upto:
        merchant = Assignment.objects.filter(terminal=terminal, valid_to__isnull=True).values_list(
            "merchant_id", flat=True
        ).first()
        LostRange.objects.create(terminal=terminal, from_seq=max(from_seq, terminal.ack_upto + 1), to_seq=to_seq,
                                 merchant_id=merchant)
    ack = acks_advance({terminal.pk: terminal.ack_upto})[terminal.pk]
    Terminal.objects.filter(pk=terminal.pk).update(ack_upto=ack, last_seen_at=timezone.now())
    return ack


def _copy(cur, sql: str, buf: io.BytesIO) -> None:
    """A binary COPY through the driver (bench/ingest/profile.py times it here)."""
    cur.cursor.copy_expert(sql, buf)


def _raw(rec) -> bytes:
    """The record's 40 bytes as received (or as encoded, for records built in code)."""
    raw = getattr(rec, "raw", None)
    return bytes(raw) if raw else rec.encode()
