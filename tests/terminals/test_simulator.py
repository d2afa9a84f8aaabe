"""The terminal simulator against the real TCP gateway on a real socket, faults on, then posting,
then the checks: every acknowledged record stored once and byte for byte, each purse equal to its
virtual card (卡 and 库), the ledger balanced."""

import asyncio
import datetime as dt
import threading
import time

import pytest

from accounts import services as acc
from accounts.models import CardType
from devtools import simulator
from devtools.simulator import SHANGHAI, SimConfig, Simulation
from terminals.models import Batch, Record, RecordConflict
from tests.accounts.helpers import adjust

K = simulator.K


def test_canteen_rate_peaks_at_lunch_and_dinner():
    lunch = simulator.rate_per_minute(K.DINING, 12.0)
    assert lunch > simulator.rate_per_minute(K.DINING, 17.9) > simulator.rate_per_minute(K.DINING, 15.0)
    assert simulator.rate_per_minute(K.DINING, 3.0) == simulator.NIGHT_RATE
    assert simulator.rate_per_minute(K.WATER, 21.3) > simulator.rate_per_minute(K.WATER, 12.0)
    assert simulator.rate_per_minute(K.TOPUP, 2.0) == 0


@pytest.fixture
def cashier(make_user):
    return make_user("cashier1", "cash_operator")


@pytest.fixture
def sim_cards(admin_user, funded_card):
    """Cards of every type: funded ones, empty ones (they queue at the top-up point), and one
    whose holder has pending credit from a refund (written at the top-up point, operator 0)."""
    cards = [funded_card(20000) for _ in range(8)]
    cards += [funded_card(15000, CardType.CONSUMPTION) for _ in range(6)]
    cards += [funded_card(0) for _ in range(3)]
    adjust(cards[-1].holder, "refund_holder", 3000, by=admin_user)
    return cards


def test_r_term_3_simulator_with_faults_every_acknowledged_record_posted_once_purses_match(
        gateway, admin_user, rates, merchants, cashier, sim_cards):
    """Faults on (R-DUP-1 resends, recollect), offline terminals (R-TERM-2), surcharges (R-SUR-1,
    R-SUR-2), a kiosk loss report pushed mid-run (R-LOSS-1, R-TERM-3)."""
    specs = simulator.terminals_setup(count=7, actor=admin_user, key_files=[], save_to=None)
    assert {s.kind for s in specs} == set(K)
    cards = simulator.cards_setup(count=50, card_nos=[c.card_no for c in sim_cards])
    assert len(cards) == len(sim_cards)
    operator = simulator.operator_setup(cashier)
    lunch = dt.datetime.now(SHANGHAI).replace(hour=11, minute=50)
    config = SimConfig(minutes=40, speed=160, seed=3, tcp=("127.0.0.1", gateway.port), offline_share=0.4,
                       faults=True, fault_rate=0.3, batch_size=8, upload_every=0.4, heartbeat_every=1.5,
                       reply_timeout=5, start=lunch)
    tids = [s.terminal_id for s in specs]
    sim = Simulation(config, specs, cards, operator_no=operator.pk, deposit_status=simulator.deposits_posted,
                     poster=lambda: simulator.post_waiting(tids))

    lost_card = sim_cards[0]  # a formal card: it can be reported lost at the kiosk

    reported = []

    def report_loss():
        acc.card_report_loss(card=lost_card, channel="kiosk", reason="lost at the canteen")
        reported.append(time.time())  # committed
        from django.db import connections

        connections.close_all()

    timer = threading.Timer(6.0, report_loss)
    timer.start()
    try:
        stats = asyncio.run(asyncio.wait_for(sim.run(), 120))
    finally:
        timer.join()

    made = sum(v for k, v in stats.made.items() if k != "offline")
    assert made > 100, stats.summary()
    assert stats.made["purchase"] and stats.made["deposit"] and stats.made["pending_deposit"] == 1
    assert stats.made["offline"] > 0
    assert stats.fen["surcharge"] > 0  # consumption cards at the canteen and the showers
    assert sum(stats.faults.values()) > 0 and stats.resends > 0
    assert stats.recollects > 0 and stats.lost == 0
    assert stats.pushes > 0  # the loss report reached connected terminals at once
    assert stats.acked == made, stats.summary()  # the end of the run uploads everything

    result = simulator.verify(sim, wait_posted=60, post_inline=True)
    assert result.ok, "\n".join(result.summary())
    assert result.acked == made

    # Stored once: one row per (terminal, term_seq), no faithful resend kept as a conflict.
    assert Record.objects.filter(terminal_id__in=tids).count() == made
    assert not RecordConflict.objects.filter(record__terminal_id__in=tids).exists()
    assert Batch.objects.filter(terminal_id__in=tids).count() >= stats.batches
    assert not Record.objects.filter(terminal_id__in=tids, status="exception").exists()
    # After the push no connected terminal charged the lost card. A terminal that was offline
    # could not hear of it: its records are posted and each raises a blocked-card alert.
    lost_at = lost_card.__class__.objects.get(pk=lost_card.pk).status_changed_at
    late = list(Record.objects.filter(card_no=lost_card.card_no, time__gt=lost_at + dt.timedelta(seconds=2)))
    # Judged by what each terminal knew, not by a fixed window after the loss (on a busy machine a
    # terminal reconnecting after a fault hears of it only at its sign-in, and that may take
    # longer): no online record of the card once its terminal held it blocked (record times are
    # whole seconds, hence the 1 s) ...
    learned = {t.vt.terminal_id: t.vt.learned.get(lost_card.card_no) for t in sim.terminals}
    knowing = [r for r in Record.objects.filter(card_no=lost_card.card_no, time__gt=lost_at)
               if not r.flags & 0x01 and learned[r.terminal_id]
               and r.time.timestamp() >= learned[r.terminal_id][0] + 1]
    assert not knowing, "an online terminal charged a blocked card"
    # ... and the push reached every terminal that heard it by push within its 2 s window of the
    # commit (the gateway's LISTEN/NOTIFY path).
    pushed = [at - reported[0] for at, how in filter(None, learned.values()) if how == "push"]
    assert pushed and max(pushed) < 2.0, pushed
    from terminals.models import CardFlag

    alerted = set(CardFlag.objects.filter(kind="blocked_spent").values_list("record_id", flat=True))
    assert all(r.pk in alerted for r in late)


class NullModem:
    """Two pyserial socket:// ends joined back to back on 127.0.0.1: a serial line in a test."""

    def __init__(self):
        import socket

        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(2)
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        a, _ = self.server.accept()
        b, _ = self.server.accept()
        for src, dst in ((a, b), (b, a)):
            threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()


def test_simulator_over_a_serial_line_resynchronises_after_cut_frames(
        transactional_db, admin_user, rates, merchants, cashier, sim_cards):
    """Several terminals behind one serial port (socket://), faults on: a cut frame is garbage the
    serial gateway skips, the terminal resends after its reply timeout; purses still match."""
    from django.db import connections

    from terminals.gateways.serial import SerialGateway

    modem = NullModem()
    gw = SerialGateway.open(f"socket://127.0.0.1:{modem.port}")

    def serve():
        try:
            gw.run_forever()
        finally:
            connections.close_all()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        specs = simulator.terminals_setup(count=3, actor=admin_user, key_files=[], save_to=None)
        cards = simulator.cards_setup(count=50, card_nos=[c.card_no for c in sim_cards])
        operator = simulator.operator_setup(cashier)
        config = SimConfig(minutes=20, speed=150, seed=5, tcp=None, serial=f"socket://127.0.0.1:{modem.port}",
                           faults=True, fault_rate=0.2, batch_size=8, upload_every=0.4, heartbeat_every=1.5,
                           reply_timeout=1.0, start=dt.datetime.now(SHANGHAI).replace(hour=12, minute=0))
        tids = [s.terminal_id for s in specs]
        sim = Simulation(config, specs, cards, operator_no=operator.pk, deposit_status=simulator.deposits_posted,
                         poster=lambda: simulator.post_waiting(tids))
        stats = asyncio.run(asyncio.wait_for(sim.run(), 120))
    finally:
        gw.stop()
        thread.join(5)
    made = sum(v for k, v in stats.made.items() if k != "offline")
    assert made > 20 and stats.acked == made, stats.summary()
    assert sum(stats.faults.values()) > 0 and stats.resends > 0, stats.summary()
    result = simulator.verify(sim, wait_posted=60, post_inline=True)
    assert result.ok, "\n".join(result.summary())
