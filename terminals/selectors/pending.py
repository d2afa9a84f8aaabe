"""What a top-up terminal's PENDING_REQ (0x40) needs, in one statement.

The gateway answers these from its event loop's database threads, thousands in a lunch rush;
through the ORM the answer took four queries and ~4.6 ms of the gateway's CPU each on the slow
bench machine (most of it compiling the queries); this statement takes ~0.2 ms."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from accounts.timeutil import business_day


@dataclass(frozen=True)
class PendingLookup:
    merchant_kind: int | None  # of the terminal's open assignment; None: not assigned
    card_status: str | None  # None: no such card
    pending: int  # the purse's pending credit
    subsidies_open: bool  # the holder has open, unexpired subsidies (they may be claimed here)


# The open assignment as Assignment's ordering takes it (latest valid_from first); the card and
# its purse; and whether the holder has an open subsidy line, as subsidies_claim looks for one.
_SQL = """
SELECT (SELECT m.kind FROM terminals_assignment a JOIN merchants_merchant m ON m.id = a.merchant_id
        WHERE a.terminal_id = %(terminal)s AND a.valid_to IS NULL ORDER BY a.valid_from DESC LIMIT 1),
    c.status, COALESCE(p.pending, 0),
    c.holder_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM accounts_subsidyline s
        WHERE s.holder_id = c.holder_id AND s.status = 'open' AND s.expires_on >= %(today)s)
FROM (SELECT 1) one
LEFT JOIN accounts_card c ON c.card_no = %(card)s
LEFT JOIN accounts_purse p ON p.id = c.purse_id
"""


def pending_lookup(*, terminal_id: int, card_no: int) -> PendingLookup:
    with connection.cursor() as cur:
        cur.execute(_SQL, {"terminal": terminal_id, "card": card_no, "today": business_day()})
        kind, status, pending, subsidies = cur.fetchone()
    return PendingLookup(kind, status, pending, bool(subsidies))
