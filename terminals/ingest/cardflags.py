"""Card-vs-account flags (卡库不平) that records arriving late explain; called by both posting
paths (the intake's and batch_post's)."""

from __future__ import annotations

from django.db import connection


def cardflags_resolve_filled(*, card_nos, now) -> int:
    """Close the counter-gap flags whose missing transactions have now all been posted (a terminal
    that was offline uploaded them late), and the balance flags those records explain: the record
    just before the flagged one ends on the balance the flagged record started from."""
    with connection.cursor() as cur:
        cur.execute(
            """WITH gaps AS (
                   UPDATE terminals_cardflag f SET resolved_at = %s, resolution = 'late records filled the gap'
                   WHERE f.resolved_at IS NULL AND f.kind = 'counter_gap' AND f.card_no = ANY(%s)
                     AND (SELECT COUNT(DISTINCT r.card_counter) FROM terminals_record r
                          WHERE r.card_no = f.card_no AND r.card_counter >= f.expected AND r.card_counter < f.actual
                            AND r.status IN ('posted', 'held')) = f.actual - f.expected
                   RETURNING f.record_id)
               UPDATE terminals_cardflag b SET resolved_at = %s, resolution = 'explained by late records'
               FROM terminals_record flagged
               WHERE b.resolved_at IS NULL AND b.kind = 'balance' AND b.record_id IN (SELECT record_id FROM gaps)
                 AND flagged.id = b.record_id
                 AND EXISTS (SELECT 1 FROM terminals_record p WHERE p.card_no = flagged.card_no
                             AND p.card_counter = flagged.card_counter - 1 AND p.balance_after = b.actual
                             AND p.status IN ('posted', 'held'))""",
            [now, list(card_nos), now],
        )
        return cur.rowcount
