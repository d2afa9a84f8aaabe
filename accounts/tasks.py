import logging

from celery import shared_task

from . import services

log = logging.getLogger(__name__)


@shared_task
def cards_expire() -> int:
    """Expire cards past their validity (R-CARD-9); hourly, idempotent."""
    return services.cards_expire()


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=10)
def subsidy_batch_expire(batch_id: int) -> dict:
    """Reverse a subsidy batch's lines unclaimed at expiry; idempotent (reversed lines are closed)."""
    from . import subsidies

    return subsidies.subsidies_expire(batch_id=batch_id)


def subsidy_expire_enqueue(batch_id: int) -> None:
    """After commit, best effort: a broker that is down only delays it until the next sweep."""
    from django.db import transaction

    def send():
        try:
            subsidy_batch_expire.delay(batch_id)
        except Exception:  # noqa: BLE001 - the lines stay open; the sweeper finds them again
            log.exception("could not enqueue subsidy batch %s; the sweeper will", batch_id)

    transaction.on_commit(send)


@shared_task
def subsidies_expire_sweep() -> int:
    """Hourly (beat): every batch with open lines past their last day goes to subsidy_batch_expire."""
    from . import subsidies

    ids = subsidies.subsidy_batches_expiring()
    for batch_id in ids:
        subsidy_expire_enqueue(batch_id)
    return len(ids)
