"""Celery tasks: they take ids, are idempotent, and are enqueued after commit."""

import logging

from celery import shared_task

from . import selectors
from .ingest import posting

log = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=10)
def batch_post(batch_id: int) -> dict:
    from django.conf import settings

    return posting.batch_post(batch_id, coalesce=settings.POSTING_COALESCE_RECORDS)


@shared_task
def batches_sweep(older_than_s: int = 30) -> int:
    """Re-enqueue batches committed but not posted (a lost message, a killed worker)."""
    ids = selectors.unposted_batch_ids(older_than_s=older_than_s)
    for batch_id in ids:
        batch_post.delay(batch_id)
    if ids:
        log.warning("sweeper re-enqueued %d unposted batches", len(ids))
    return len(ids)


def batch_post_enqueue(batch_id: int) -> None:
    """Best effort: if the broker is down the sweeper picks the batch up later."""
    try:
        batch_post.delay(batch_id)
    except Exception:  # noqa: BLE001 - the batch is durable; the sweeper will find it
        log.exception("could not enqueue batch %s; the sweeper will", batch_id)


@shared_task
def cardflags_enforce() -> int:
    """Freeze cards whose card-vs-account flags stayed open past the staff's limit (R-FREEZE-1)."""
    return posting.cardflags_enforce()


@shared_task
def records_retry() -> dict:
    """Re-post records that waited only for money (a purchase uploaded before its top-up)."""
    return posting.records_retry_pending()
