"""Celery tasks of settlement: thin, idempotent."""

import logging

from celery import shared_task

from . import services

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def days_close() -> list[str]:
    """Close yesterday (and any ended day missed since the last close), shortly after midnight
    Asia/Shanghai (R-DAY-1). Re-running does no harm: a day's close is idempotent."""
    closes = services.days_close_due()
    for dc in closes:
        log.info("day %s closed: %s, %d open exceptions, %d ms", dc.day, dc.status, dc.open_exceptions, dc.duration_ms)
    return [str(dc.day) for dc in closes]
