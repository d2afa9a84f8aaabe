from celery import shared_task

from . import banklink


@shared_task
def bank_reversals_retry() -> int:
    """Reverse bank transfers left waiting and resend unacknowledged reversals; idempotent."""
    return banklink.bank_reversals_retry()
