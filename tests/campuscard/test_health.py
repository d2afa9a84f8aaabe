"""GET /health/ checks PostgreSQL, Redis and the workers, and says which part is not well."""

import datetime as dt

import pytest
from django.utils import timezone

from terminals.models import Batch

pytestmark = pytest.mark.django_db


def test_health_without_the_worker_check_is_ok(client):
    r = client.get("/health/?workers=0")
    body = r.json()
    assert r.status_code == 200 and body["postgres"]["ok"] and body["redis"]["ok"] and body["posting"]["ok"]


def test_no_worker_answering_is_a_503(client):
    from campuscard.celery import app

    if app.control.ping(timeout=0.5):
        pytest.skip("a Celery worker happens to listen on this broker")
    r = client.get("/health/")
    assert r.status_code == 503 and r.json()["workers"] == {"ok": False, "responding": 0}


def test_posting_lag_past_the_limit_is_a_503(client, superuser):
    from merchants.models import MerchantKind
    from merchants.services import merchant_create
    from terminals.services import terminal_add

    merchant = merchant_create(actor=superuser, code="H1", name="health", kind=MerchantKind.RETAIL)
    terminal, _ = terminal_add(actor=superuser, merchant=merchant)
    batch = Batch.objects.create(terminal=terminal, batch_no=1, msg_seq=1, raw=b"", count=1)
    Batch.objects.filter(pk=batch.pk).update(received_at=timezone.now() - dt.timedelta(minutes=10))
    r = client.get("/health/?workers=0")
    assert r.status_code == 503 and r.json()["posting"]["unposted_batches"] == 1


def test_health_shows_no_secrets(client):
    assert b"key" not in client.get("/health/?workers=0").content.lower()
