"""Posting through a real Celery worker on the real broker: the gateway enqueues after the ACK,
the sweeper re-enqueues what was committed but never picked up, a killed worker loses nothing."""

import os
import signal
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import LedgerAccount
from campuscard.celery import app
from merchants.models import MerchantKind
from terminals.models import Batch
from terminals.tasks import batches_sweep

from .conftest import run
from .helpers import Till

pytestmark = pytest.mark.django_db(transaction=True)


def subprocess_env():
    """The environment for a worker or gateway process that must use this test database."""
    env = dict(os.environ)
    db = connection.settings_dict
    # The worker must use the test database; a socket directory (embedded PostgreSQL) is URL-encoded.
    host = quote(str(db["HOST"] or "127.0.0.1"), safe="")
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
    env["REDIS_URL"] = settings.REDIS_URL
    return env


def start_worker(coalesce=None):
    env = subprocess_env()
    if coalesce is not None:
        env["POSTING_COALESCE_RECORDS"] = str(coalesce)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "campuscard", "worker", "-l", "warning", "--concurrency", "1",
         "--pool", "solo", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        env=env, cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.fixture
def worker():
    app.control.purge()  # tasks left by earlier tests name batches of a flushed database
    proc = start_worker()
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_posted(batch_ids, timeout=40):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not Batch.objects.filter(pk__in=batch_ids, posted_at__isnull=True).exists():
            return True
        time.sleep(0.2)
    return False


def test_gateway_ack_then_worker_posts(worker, gateway, vterm, funded_card, rates, merchants):
    vt = vterm(MerchantKind.RETAIL)
    card = funded_card(5000)

    async def go():
        await vt.connect("127.0.0.1", gateway.port)
        vt.record(card_no=card.card_no, card_type=1, kind=1, card_counter=0, base_amount=700,
                  balance_before=5000, balance_after=4300)
        await vt.upload()
        await vt.close()

    run(go())
    ids = list(Batch.objects.values_list("pk", flat=True))
    assert wait_posted(ids), "the worker did not post the batch"
    assert LedgerAccount.objects.get(pk=merchants[MerchantKind.RETAIL].payable_account_id).balance == 700


def test_sweeper_reenqueues_committed_batches_and_a_killed_worker_loses_nothing(worker, make_terminal, funded_card,
                                                                                rates):
    terminal, _ = make_terminal(MerchantKind.RETAIL)
    till = Till(terminal)
    card = till.card(funded_card(100000))
    ids = [till.send([till.purchase(card, 10) for _ in range(50)], post=False).batch_id for _ in range(20)]
    worker.send_signal(signal.SIGKILL)  # gone before it ever saw these batches
    worker.wait(10)
    restarted = start_worker()
    try:
        assert batches_sweep(older_than_s=0) == 20
        assert wait_posted(ids)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(15)
    assert LedgerAccount.objects.get(pk=card.purse.account_id).balance == 100000 - 20 * 50 * 10
