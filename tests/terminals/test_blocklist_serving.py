"""Block list: deltas, paging of a full list, APPLIED bookkeeping and the push on a change (R-TERM-3)."""

import asyncio
import time

import pytest
from django.db import connection

from accounts import services as acc
from accounts.models import BlockListEntry
from accounts.selectors import blocklist_version
from terminals import wire as P
from terminals.host import blocklist_delta
from terminals.models import Terminal

from .conftest import run

pytestmark = pytest.mark.django_db


def _fill(n, start=30000000):
    """n block entries straight into the table (the service path is tested elsewhere)."""
    with connection.cursor() as cur:
        cur.execute("INSERT INTO accounts_blocklistentry (card_no, op, reason, at) "
                    "SELECT g, 1, 'bench', now() FROM generate_series(%s, %s) g", [start, start + n - 1])


def _page_through(have, max_entries):
    blocked, pages = set(), 0
    while True:
        d = blocklist_delta(have, max_entries)
        assert d.from_version == have
        pages += 1
        if d.full:
            assert pages == 1, "only the first page of a full list says full"
            blocked = set()
        for card_no, op in d.entries:
            (blocked.add if op else blocked.discard)(card_no)
        have = d.to_version
        if not d.more:
            return blocked, have, pages


def test_full_list_is_paged_and_later_pages_are_ordinary_deltas():
    _fill(2500)
    # an unblocked card is not in the full list
    with connection.cursor() as cur:
        cur.execute("INSERT INTO accounts_blocklistentry (card_no, op, reason, at) VALUES (30000000, 0, 'found', now())")
    blocked, version, pages = _page_through(0, 1000)
    assert pages == 3 and version == blocklist_version()
    assert len(blocked) == 2499 and 30000000 not in blocked


def test_delta_sends_each_card_once_with_its_latest_op():
    _fill(3)
    have = blocklist_version()
    with connection.cursor() as cur:
        cur.execute("INSERT INTO accounts_blocklistentry (card_no, op, reason, at) VALUES "
                    "(30000001, 0, 'x', now()), (30000001, 1, 'x', now()), (30000002, 0, 'x', now())")
    d = blocklist_delta(have, 0)
    assert (d.full, d.more) == (0, 0) and sorted(d.entries) == [(30000001, 1), (30000002, 0)]


def test_max_entries_zero_means_as_many_as_fit():
    _fill(13000)
    d = blocklist_delta(0, 0)
    assert len(d.entries) == P.MAX_DELTA_ENTRIES and d.more == 1
    assert len(P.encode_frame(P.MsgType.BLOCKLIST_DELTA, 1, 1, d, bytes(32))) <= P.MAX_FRAME


def test_version_ahead_of_the_host_gets_the_full_list():
    _fill(2)
    d = blocklist_delta(blocklist_version() + 10, 0)
    assert d.full == 1 and len(d.entries) == 2


@pytest.mark.django_db(transaction=True)
def test_r_term_3_loss_report_is_pushed_to_connected_terminals_within_a_second(gateway, vterm, funded_card):
    """R-TERM-3 / R-LOSS: a kiosk loss report reaches every connected terminal at once."""
    card = funded_card(100)
    terms = [vterm() for _ in range(3)]

    async def connect_all():
        for vt in terms:
            await vt.connect("127.0.0.1", gateway.port)
            await vt.sync_blocklist()

    async def scenario():
        await connect_all()
        t0 = time.monotonic()
        await asyncio.to_thread(acc.card_report_loss, card=card, channel="kiosk", reason="kiosk")
        for vt in terms:
            await asyncio.wait_for(vt.push_event.wait(), 5)
        delays = [vt.pushes[-1][0] - t0 for vt in terms]
        for vt in terms:
            await vt.sync_blocklist()  # confirm: the host records the terminal's own word
            await vt.close()
        return delays

    delays = run(scenario())
    assert max(delays) < 1.0
    assert all(card.card_no in vt.blocked for vt in terms)
    version = blocklist_version()
    assert set(Terminal.objects.filter(pk__in=[v.terminal_id for v in terms]).values_list(
        "blocklist_version", flat=True)) == {version}


@pytest.mark.django_db(transaction=True)
def test_blocklist_version_is_recorded_from_the_terminals_word_only(gateway, vterm, funded_card, admin_user):
    card = funded_card(100)
    acc.card_report_loss(card=card, actor=admin_user, reason="lost")
    vt = vterm()

    async def go():
        await vt.connect("127.0.0.1", gateway.port)
        await vt.request(P.MsgType.BLOCKLIST_REQ, P.BlocklistReq(have_version=0, max_entries=0).encode())
        await vt.close()

    run(go())
    assert Terminal.objects.get(pk=vt.terminal_id).blocklist_version == 0  # sent, not yet confirmed
    assert BlockListEntry.objects.filter(card_no=card.card_no).exists()
