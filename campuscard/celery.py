"""The Celery app. Tasks take ids, are idempotent and are enqueued with transaction.on_commit."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campuscard.settings")

app = Celery("campuscard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
