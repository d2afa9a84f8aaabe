"""Issue 11: the gateway's group commit and the intake's own posting, over real sockets, on the
real database (and a real Celery worker for what the intake leaves to it)."""

import asyncio
import time

import psycopg2
import pytest
from django.db import connection

from accounts.ledger import ledger_check
from accounts.models import Journal, LedgerAccount, Purse
from merchants.models import MerchantKind
from terminals.gateways.tcp import GROUP_PARALLEL
from terminals.ingest.intake import batch_intake
from terminals.ingest.posting import batch_post
from terminals.models import Batch, CardFlag, Record

from .conftest import run
from .helpers import Till
from .test_worker import wait_posted, worker  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)


def purchase(vt, card, amount, counter, before, **kw):
    return vt.record(card_no=card.card_no, card_type=card.card_type, kind=1, card_counter=counter,
                     base_amount=amount, surcharge=0, balance_before=before, balance_after=before - amount, **kw)


def _pg():
    """A second database session of the test's own (to hold a lock as another writer would)."""
    s = connection.settings_dict
    conn = psycopg2.connect(dbname=s["NAME"], user=s["USER"], host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432)
    conn.autocommit = False
    return conn


def test_group_commit_answers_each_terminal_only_after_its_commit(gateway, vterm, funded_card, rates, merchants):
    terminals = [vterm(MerchantKind.RETAIL) for _ in range(6)]
    cards = [funded_card(10_000) for _ in terminals]
    payable = merchants[MerchantKind.RETAIL].payable_account_id
    blocker = _pg()
    seen_at_ack: dict[int, int] = {}

    async def go():
        for vt in terminals:
            await vt.connect("127.0.0.1", gateway.port)
        for vt, card in zip(terminals, cards, strict=True):
            for i in range(3):
                purchase(vt, card, 100, i, 10_000 - 100 * i)
        # Another writer holds the merchant payable: the groups store their records, then wait for
        # that row lock at the very end of their transaction.
        with blocker.cursor() as cur:
            cur.execute("SELECT balance FROM accounts_ledgeraccount WHERE id = %s FOR UPDATE", [payable])

        async def upload(vt):
            [ack] = await vt.upload()
            # Answered: the records are committed and posted, for any other session to see.
            other = _pg()
            try:
                with other.cursor() as cur:
                    cur.execute("SELECT COUNT(*) FROM terminals_record WHERE terminal_id = %s AND status = 'posted'",
                                [vt.terminal_id])
                    seen_at_ack[vt.terminal_id] = cur.fetchone()[0]
            finally:
                other.close()
            return ack

        tasks = [asyncio.create_task(upload(vt)) for vt in terminals]
        await asyncio.sleep(1.5)
        assert not any(t.done() for t in tasks), "no terminal is answered before its group commits"
        # Every batch is in a group that waits for its commit, or waits for a slot (the batches that
        # came while one group was in flight lingered and went in together: GROUP_LINGER).
        intake = gateway.gw.intake
        assert 1 <= intake.running <= GROUP_PARALLEL and (intake.running == GROUP_PARALLEL or not intake.pending)
        blocker.rollback()  # the other writer finishes
        acks = await asyncio.gather(*tasks)
        for vt in terminals:
            await vt.close()
        return acks

    try:
        acks = run(go())
    finally:
        blocker.close()
    assert all((a.stored, a.duplicates, a.exceptions, a.ack_upto) == (3, 0, 0, 3) for a in acks)
    assert all(n == 3 for n in seen_at_ack.values()), seen_at_ack
    # Six batches, fewer groups: those that came while a group was in flight went in together
    # (with GROUP_LINGER: usually the first alone and the other five as one), one journal a group.
    groups = gateway.gw.intake.groups
    assert 2 <= groups <= GROUP_PARALLEL + 1
    assert Journal.objects.filter(source__startswith="intake:").count() == groups
    assert not Batch.objects.filter(posted_at__isnull=True).exists()
    for card in cards:
        assert Purse.objects.get(pk=card.purse_id).account.balance == 10_000 - 300
    assert LedgerAccount.objects.get(pk=payable).balance == 6 * 300
    assert ledger_check() == []


def test_replay_after_a_group_commit_is_idempotent(gateway, vterm, funded_card, rates):
    vts = [vterm(MerchantKind.RETAIL) for _ in range(3)]
    cards = [funded_card(10_000) for _ in vts]

    async def go():
        for vt, card in zip(vts, cards, strict=True):
            await vt.connect("127.0.0.1", gateway.port)
            for i in range(4):
                purchase(vt, card, 50, i, 10_000 - 50 * i)
        recs = {vt.terminal_id: sorted(vt.unacked.values(), key=lambda r: r.term_seq) for vt in vts}
        first = await asyncio.gather(*(vt.upload() for vt in vts))
        for vt in vts:  # the ACKs were lost: each terminal reconnects and resends the same records
            await vt.close()
            await vt.connect("127.0.0.1", gateway.port)
        again = await asyncio.gather(*(vt.upload(recs[vt.terminal_id]) for vt in vts))
        for vt in vts:
            await vt.close()
        return [a[0] for a in first], [a[0] for a in again]

    first, again = run(go())
    assert [(a.stored, a.duplicates, a.ack_upto) for a in first] == [(4, 0, 4)] * 3
    assert [(a.stored, a.duplicates, a.exceptions, a.ack_upto) for a in again] == [(0, 4, 0, 4)] * 3
    assert Record.objects.filter(status="posted").count() == 12
    for card in cards:
        assert Purse.objects.get(pk=card.purse_id).account.balance == 10_000 - 200
    journals = Journal.objects.filter(kind="purchase").count()
    assert journals == len(set(Record.objects.values_list("journal_id", flat=True)))  # the replay added none
    for b in Batch.objects.all():
        batch_post(b.pk)  # a stray posting task for any of them changes nothing
    for card in cards:
        assert Purse.objects.get(pk=card.purse_id).account.balance == 10_000 - 200
    assert ledger_check() == []


def test_batch_the_intake_cannot_post_goes_to_the_worker(worker, gateway, vterm, funded_card, rates):  # noqa: F811
    """A card whose balance differs from the host's with no counter gap to explain it may have to
    be frozen (R-FREEZE-1): batch_post's rules. The intake stores it received, the ACK comes at
    once, the Celery worker posts it with its flag. A clean card in the same batch is posted by
    the intake."""
    vt = vterm(MerchantKind.RETAIL)
    gap, clean = funded_card(10_000), funded_card(10_000)

    async def go():
        await vt.connect("127.0.0.1", gateway.port)
        purchase(vt, gap, 100, 0, 10_050)  # the host expects a balance of 10,000
        purchase(vt, clean, 100, 0, 10_000)
        [ack] = await vt.upload()
        await vt.close()
        return ack

    ack = run(go())
    assert (ack.stored, ack.exceptions, ack.ack_upto) == (2, 0, 2)
    assert Record.objects.get(card_no=clean.card_no).journal.source.startswith("intake:")
    assert wait_posted([ack_batch.pk for ack_batch in Batch.objects.all()])
    rec = Record.objects.get(card_no=gap.card_no)
    assert rec.status == "posted" and rec.journal.source.startswith("batch")
    assert CardFlag.objects.filter(record=rec, kind="balance").exists()
    assert Purse.objects.get(pk=gap.purse_id).account.balance == 9_900
    assert ledger_check() == []


def _outcome(records):
    return [(r.term_seq, r.status, sorted(r.problems), r.merchant_amount, r.surcharge_amount, r.held_amount,
             r.business_day is not None) for r in records]


def test_intake_posts_exactly_as_batch_post_would(make_terminal, funded_card, rates, merchants):
    """The same records, once through the intake's posting and once left to batch_post: same
    statuses, problems (R-DUP-1's suspected duplicates included), splits (R-SUR-1) and balances."""
    results = {}
    for post_at_intake in (True, False):
        terminal, _ = make_terminal(MerchantKind.DINING)
        till = Till(terminal)
        card = till.card(funded_card(50_000, card_type=3))
        now = int(time.time())
        recs = [till.purchase(card, 400, 60, at=now), till.purchase(card, 400, 60, at=now + 2),  # R-DUP-1
                till.purchase(card, 650, 98, at=now + 60), till.purchase(card, 100, 0, at=now + 90)]  # surcharge
        res = batch_intake(terminal_id=terminal.pk, batch_no=1, msg_seq=1, raw_frame=b"", records=recs,
                           post=post_at_intake)
        assert res.to_post == (0 if post_at_intake else 4)
        batch_post(res.batch_id)
        rows = list(Record.objects.filter(terminal=terminal).order_by("term_seq"))
        results[post_at_intake] = (_outcome(rows), Purse.objects.get(pk=card.purse_id).account.balance)
    assert results[True] == results[False]
    outcome, balance = results[True]
    assert [o[2] for o in outcome] == [[], ["suspected_duplicate"], [], ["surcharge"]]
    assert outcome[0][3:5] == (400, 60)  # R-SUR-1: the dining merchant gets the base, the centre the surcharge
    assert balance == 50_000 - (460 + 460 + 748 + 100)
    assert ledger_check() == []


def test_a_purse_with_records_waiting_for_the_worker_is_left_to_it(make_terminal, funded_card, rates):
    """Posting order per purse: while a card has records waiting for batch_post, the intake posts
    none of that purse's later records itself."""
    terminal, _ = make_terminal(MerchantKind.RETAIL)
    till = Till(terminal)
    card = till.card(funded_card(10_000))
    first = till.send([till.purchase(card, 100)], post=False)
    assert first.to_post == 1
    second = batch_intake(terminal_id=terminal.pk, batch_no=2, msg_seq=2, raw_frame=b"",
                          records=[till.purchase(card, 200)])
    assert second.to_post == 1 and Record.objects.get(term_seq=2).status == "received"
    batch_post(first.batch_id)  # takes both batches along, in order
    assert list(Record.objects.order_by("term_seq").values_list("status", flat=True)) == ["posted", "posted"]
    assert not CardFlag.objects.exists()
    assert Purse.objects.get(pk=card.purse_id).account.balance == 9_700


def test_groups_taken_in_several_threads_at_once_all_commit(make_terminal, funded_card, rates):
    """The gateway's database threads take groups at the same time; one of them writes the record
    table at a time (intake._RECORD_WRITER), the rest go on with their own statements. Every
    group commits, each purse is charged once, the writer is free afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from terminals.ingest import intake

    tills = []
    for _ in range(6):
        terminal, _ = make_terminal(MerchantKind.RETAIL)
        till = Till(terminal)
        tills.append((till, till.card(funded_card(10_000))))
    batches = [[till.purchase(card, 100 + n) for n in range(50)] for till, card in tills]

    def take(i):
        try:
            till, _ = tills[i]
            return batch_intake(terminal_id=till.terminal.pk, batch_no=1, msg_seq=1, raw_frame=b"",
                                records=batches[i])
        finally:
            connections.close_all()

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(take, range(6)))
    assert [(r.stored, r.to_post) for r in results] == [(50, 0)] * 6
    assert not intake._RECORD_WRITER.locked()
    for _till, card in tills:
        assert Purse.objects.get(pk=card.purse_id).account.balance == 10_000 - sum(100 + n for n in range(50))
    assert Record.objects.filter(status="posted").count() == 300
    assert ledger_check() == []
