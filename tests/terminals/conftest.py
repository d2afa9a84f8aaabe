"""Fixtures for terminals: merchants of each kind, terminals with keys, cards with money."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts import services as acc
from accounts.models import CardType
from merchants.models import MerchantKind
from merchants.services import merchant_create
from terminals.services import surcharge_rate_add, terminal_add
from tests.factories import HolderFactory


@pytest.fixture
def admin_user(make_user):
    return make_user("gwadmin", "super_admin", is_superuser=True)


@pytest.fixture
def rates(admin_user):
    return surcharge_rate_add(actor=admin_user, effective_from=timezone.now() - dt.timedelta(days=30),
                              board_fee_bp=1000, energy_fee_bp=500, water_multiplier_pct=200)


@pytest.fixture
def merchants(admin_user):
    return {
        kind: merchant_create(actor=admin_user, code=f"M{int(kind)}", name=f"商户{int(kind)}", kind=kind)
        for kind in MerchantKind
    }


@pytest.fixture
def make_terminal(admin_user, merchants):
    def make(kind=MerchantKind.DINING):
        terminal, key = terminal_add(actor=admin_user, merchant=merchants[kind])
        return terminal, key

    return make


@pytest.fixture
def funded_card(admin_user):
    """A formal card whose purse holds `amount` fen, on the card as well (as after a top-up)."""

    def make(amount=10000, card_type=CardType.FORMAL):
        if card_type == CardType.FORMAL:
            holder = HolderFactory()
            card = acc.card_issue_formal(actor=admin_user, holder=holder)
        else:
            from tests.factories import UnitFactory

            batch = acc.card_batch_issue(actor=admin_user, unit=UnitFactory(), card_type=CardType.CONSUMPTION,
                                         quantity=1)
            card = batch.cards.get()
        if amount:
            cash = acc.cash_account_for(admin_user)
            from accounts.ledger import journal_post

            journal_post(kind="deposit", lines=[(cash, amount), (card.purse.account, -amount)], actor=admin_user,
                         reason="test top-up")
            card.purse.__class__.objects.filter(pk=card.purse_id).update(card_balance=amount)
        card.refresh_from_db()
        return card

    return make


# --- a real gateway on a real socket -----------------------------------------------------------

import asyncio  # noqa: E402
import threading  # noqa: E402

from terminals.gateways.tcp import Gateway  # noqa: E402
from terminals.wire.client import VirtualTerminal  # noqa: E402


class RunningGateway:
    """The TCP gateway on 127.0.0.1 with an ephemeral port, on its own event loop thread."""

    def __init__(self, threads: int = 4, **options):
        self.gw = Gateway(threads=threads, **options)
        self.threads = threads
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.gw.start("127.0.0.1", 0))
            ready.set()
            self.loop.run_forever()
            # As asyncio.run ends: what is still pending (a push, a connection's task) is cancelled
            # and run to its end, so no coroutine is left unawaited when the loop is collected.
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

        self.thread = threading.Thread(target=run, name="test-gateway", daemon=True)
        self.thread.start()
        assert ready.wait(10), "gateway did not start"
        self.port = self.gw.port

    def stop(self):
        self.loop.call_soon_threadsafe(self.gw.stop)
        # Close every worker thread's database connection, so the test database can be flushed
        # and dropped: a barrier makes each of the pool's threads run one close.
        from django.db import connections

        barrier = threading.Barrier(self.threads)

        def close():
            connections.close_all()
            try:
                barrier.wait(5)
            except threading.BrokenBarrierError:
                pass

        futures = [self.gw.executor.submit(close) for _ in range(self.threads)]
        for f in futures:
            f.result(10)
        self.gw.executor.shutdown(wait=True)
        self.gw.enqueue_executor.shutdown(wait=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.gw.listener.join(5)  # its LISTEN connection is closed within a second


@pytest.fixture
def gateway(transactional_db):
    running = RunningGateway()
    yield running
    running.stop()


def run(coro, timeout=30):
    """Run a client coroutine on a fresh event loop in the test's thread."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def vterm(make_terminal, gateway):
    """Make a VirtualTerminal for a new terminal of a kind; connect it yourself."""

    def make(kind=MerchantKind.DINING):
        terminal, key = make_terminal(kind)
        return VirtualTerminal(terminal_id=terminal.pk, key=key)

    return make
