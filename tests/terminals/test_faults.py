"""Kill -9 the gateway in the middle of an upload and the worker in the middle of posting: after
restarts every acknowledged record is stored and posted exactly once and the ledger balances."""

import asyncio
import signal
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings

from accounts.models import LedgerAccount
from merchants.models import MerchantKind
from terminals.models import Batch, Record
from terminals.tasks import batches_sweep
from terminals.wire.client import VirtualTerminal

from .conftest import run
from .test_worker import start_worker, subprocess_env, wait_posted

pytestmark = pytest.mark.django_db(transaction=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(port, intake_posts=True):
    env = subprocess_env()
    env["INTAKE_POSTS"] = "1" if intake_posts else "0"
    proc = subprocess.Popen([sys.executable, "manage.py", "run_gateway", "--listen", f"127.0.0.1:{port}",
                             "--threads", "2"], env=env, cwd=settings.BASE_DIR,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gateway did not start")


async def connect_retrying(vt, port, timeout=20):
    end = time.monotonic() + timeout
    while True:
        try:
            return await vt.connect("127.0.0.1", port)
        except (OSError, ConnectionError):
            if time.monotonic() > end:
                raise
            await asyncio.sleep(0.2)


def test_gateway_killed_mid_upload_then_worker_killed_mid_posting(make_terminal, funded_card, rates):
    terminal, key = make_terminal(MerchantKind.RETAIL)
    card = funded_card(1_000_000)
    vt = VirtualTerminal(terminal_id=terminal.pk, key=key)
    for i in range(3000):
        vt.record(card_no=card.card_no, card_type=1, kind=1, card_counter=i, base_amount=10,
                  balance_before=1_000_000 - 10 * i, balance_after=1_000_000 - 10 * (i + 1))
    port = free_port()
    # The worker's half of this test needs batches left to post: this gateway leaves all posting
    # to the Celery path (the intake's own posting is killed mid-group in test_group_commit).
    gw = start_gateway(port, intake_posts=False)
    acked_before_kill = set()

    async def upload(kill_after=None):
        nonlocal gw
        await connect_retrying(vt, port)
        sent = 0
        while vt.unacked:
            seqs = sorted(vt.unacked)[:100]
            vt.batch_no += 1
            from terminals import wire as P

            body = P.TxnBatch(batch_no=vt.batch_no, records=[vt.unacked[s] for s in seqs]).encode()
            vt.msg_seq += 1
            try:
                vt.writer.write(P.encode_frame(P.MsgType.TXN_BATCH, vt.terminal_id, vt.msg_seq, body, vt.key))
                await vt.writer.drain()
            except ConnectionError:  # the gateway died before this batch: the terminal keeps it
                await vt.close()
                return False
            sent += 1
            if kill_after is not None and sent == kill_after:
                gw.send_signal(signal.SIGKILL)  # the batch just written may or may not be committed
                gw.wait(10)
            try:
                kind, _, reply = await asyncio.wait_for(vt._replies.get(), 10)
            except TimeoutError:
                kind = None
            if kind is None:
                await vt.close()
                return False
            ack = P.decode_body(kind, reply)
            vt._acked(ack.ack_upto)
            acked_before_kill.update(s for s in seqs if s <= ack.ack_upto)
        await vt.close()
        return True

    try:
        assert run(upload(kill_after=12), timeout=60) is False
        acked = set(acked_before_kill)
        assert len(acked) >= 1100  # 11 batches were acknowledged before the kill
        gw = start_gateway(port, intake_posts=False)
        assert run(upload(), timeout=120) is True  # sign-in's ack_upto, then the rest is resent
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(10)

    seqs = list(Record.objects.filter(terminal=terminal).values_list("term_seq", flat=True))
    assert sorted(seqs) == list(range(1, 3001)), "every record stored exactly once"
    assert acked <= set(seqs)

    worker = start_worker(coalesce=0)  # one batch per run, so there is a middle to kill it in
    try:
        batches_sweep(older_than_s=0)
        total = Batch.objects.count()
        end = time.monotonic() + 30
        while Batch.objects.filter(posted_at__isnull=False).count() < 5 and time.monotonic() < end:
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)  # in the middle of posting: some batches done, some not
        worker.wait(10)
        partly = Batch.objects.filter(posted_at__isnull=True).count()
        assert 0 < partly < total
        worker = start_worker()
        batches_sweep(older_than_s=0)  # what the beat sweeper does every minute
        assert wait_posted(list(Batch.objects.values_list("pk", flat=True)), timeout=90)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(15)
    print(f"batches left unposted by the killed worker: {partly}")
    assert not Record.objects.filter(terminal=terminal).exclude(status="posted").exists()
    assert LedgerAccount.objects.get(pk=card.purse.account_id).balance == 1_000_000 - 3000 * 10
