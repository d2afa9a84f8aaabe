from celery import shared_task

from . import services


@shared_task
def cards_expire() -> int:
    """Expire cards past their validity (R-CARD-9); hourly, idempotent."""
    return services.cards_expire()
