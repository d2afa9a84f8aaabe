"""Batches: acknowledgement state, what is waiting to be posted and how far posting lags."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Count, Max, Min
from django.utils import timezone

from ..models import Batch


def recollect_for(terminal_id: int, ack_upto: int, last_seq: int) -> tuple[int, int]:
    """The first run of numbers above ack_upto the host lacks (POS-PROTOCOL 0x81)."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT LEAST(
                   (SELECT MIN(term_seq) FROM terminals_record WHERE terminal_id = %s AND term_seq > %s),
                   (SELECT MIN(from_seq) FROM terminals_lostrange WHERE terminal_id = %s AND to_seq > %s))""",
            [terminal_id, ack_upto, terminal_id, ack_upto],
        )
        next_stored = cur.fetchone()[0]
    if next_stored is not None and next_stored > ack_upto + 1:
        return ack_upto + 1, next_stored - 1
    if next_stored is None and last_seq > ack_upto:
        return ack_upto + 1, last_seq
    return 0, 0


def unposted_batch_ids(*, older_than_s: int = 30, limit: int = 1000) -> list[int]:
    from ..models import Batch

    cutoff = timezone.now() - dt.timedelta(seconds=older_than_s)
    return list(
        Batch.objects.filter(posted_at__isnull=True, received_at__lt=cutoff).order_by("id").values_list("id", flat=True)[
            :limit
        ]
    )


def posting_lag() -> dict:
    """Batches committed but not yet posted: how many, and how long the oldest has waited (s)."""
    r = Batch.objects.filter(posted_at__isnull=True).aggregate(n=Count("id"), oldest=Min("received_at"))
    lag = (timezone.now() - r["oldest"]).total_seconds() if r["oldest"] else 0.0
    last = Batch.objects.filter(posted_at__isnull=False).aggregate(at=Max("posted_at"))["at"]
    return {"unposted": r["n"], "oldest_seconds": lag, "last_posted_at": last}
