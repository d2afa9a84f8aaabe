"""The Celery app. Tasks take ids, are idempotent and are enqueued with transaction.on_commit."""

import logging
import os

from celery import Celery
from celery.worker.consumer import consumer as _consumer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campuscard.settings")

app = Celery("campuscard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _survive_broker_loss(original):
    """Celery 5.7.0 closes the broken broker connection when the connection is lost; with the
    Redis transport and messages delivered but not yet acknowledged (acks_late) that close tries
    to restore them through a transport whose client is already gone, raises AttributeError, and
    the worker exits ("Unrecoverable error") instead of reconnecting: a Redis restart stopped all
    posting (bench/chaos). The messages are lost with Redis anyway; the sweeper re-enqueues
    their batches. So that one error is logged and the worker goes on to reconnect."""

    def on_connection_error_after_connected(self, exc):
        try:
            original(self, exc)
        except AttributeError:
            logging.getLogger("campuscard.celery").warning(
                "broker connection lost; its unacknowledged messages could not be restored (the sweeper "
                "re-enqueues their batches); reconnecting", exc_info=True)
            self.connection = None

    on_connection_error_after_connected.survives_broker_loss = True
    return on_connection_error_after_connected


if not getattr(_consumer.Consumer.on_connection_error_after_connected, "survives_broker_loss", False):
    _consumer.Consumer.on_connection_error_after_connected = _survive_broker_loss(
        _consumer.Consumer.on_connection_error_after_connected)
