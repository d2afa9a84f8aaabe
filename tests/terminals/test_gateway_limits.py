"""Hostile connection patterns: silent and slowloris connections are dropped quickly, capacity is
bounded, and a real terminal keeps being served meanwhile."""

import socket
import time

import pytest

from terminals import wire as P

from .conftest import RunningGateway, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tight_gateway(transactional_db):
    running = RunningGateway(frame_timeout=0.5, idle_timeout=2.0, max_connections=20)
    yield running
    running.stop()


def _closed_within(sock, seconds):
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


def test_silent_and_slowloris_connections_are_dropped(tight_gateway):
    silent = socket.create_connection(("127.0.0.1", tight_gateway.port))
    slow = socket.create_connection(("127.0.0.1", tight_gateway.port))
    slow.sendall(b"CC\x01")  # a header that never completes
    assert _closed_within(silent, 3) and _closed_within(slow, 3)
    silent.close()
    slow.close()


def test_capacity_is_bounded_and_real_terminals_are_served_after_the_flood(tight_gateway, vterm_on):
    flood = [socket.create_connection(("127.0.0.1", tight_gateway.port)) for _ in range(40)]
    time.sleep(0.2)
    assert tight_gateway.gw.open_connections <= 20
    assert tight_gateway.gw.stats["refused"] >= 20
    for s in flood:
        s.close()
    time.sleep(0.7)
    vt = vterm_on()

    async def go():
        reply = await vt.connect("127.0.0.1", tight_gateway.port)
        await vt.close()
        return reply

    assert run(go()).result == 0


def test_sign_in_flood_from_one_terminal_keeps_one_connection(tight_gateway, vterm_on):
    vt = vterm_on()
    from terminals.wire.client import VirtualTerminal

    async def go():
        twins = [VirtualTerminal(terminal_id=vt.terminal_id, key=vt.key) for _ in range(10)]
        for t in twins:
            await t.connect("127.0.0.1", tight_gateway.port)
        last = twins[-1]
        reply = await last.heartbeat()
        for t in twins:
            await t.close()
        return reply

    assert run(go()).result == 0
    assert len([c for c in tight_gateway.gw.connections.values() if not c.closed]) <= 1


@pytest.fixture
def vterm_on(make_terminal):
    from merchants.models import MerchantKind
    from terminals.wire.client import VirtualTerminal

    def make():
        terminal, key = make_terminal(MerchantKind.DINING)
        return VirtualTerminal(terminal_id=terminal.pk, key=key)

    return make


def test_oversize_body_len_is_refused_before_reading(tight_gateway, make_terminal):
    terminal, key = make_terminal()
    header = P.encode_frame(P.MsgType.SIGN_IN, terminal.pk, 1, bytes(28), key)[:12] + (65535).to_bytes(2, "big")
    with socket.create_connection(("127.0.0.1", tight_gateway.port), timeout=5) as s:
        s.sendall(header)  # no body follows: the answer must not wait for one
        data = s.recv(100)
    assert data[3] == P.MsgType.NACK and P.Nack_decode(data[14:16]) == P.Nack.TOO_LARGE
