"""Property tests against the running gateway: mutated frames never store a record unless they
pass CRC and MAC, never crash it, and the next terminal is served as usual."""

import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminals import wire as P
from terminals.models import Record

pytestmark = pytest.mark.django_db(transaction=True)


def _sign_in(tid, key):
    body = P.SignIn(firmware_version=1, blocklist_version=0, params_version=0, last_seq=0, unsent=0, clock=0)
    return P.encode_frame(P.MsgType.SIGN_IN, tid, 1, body, key)


def _exchange(port, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)  # a truncated frame ends here instead of after the frame timeout
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
    return out


def _valid(frame: bytes, key: bytes) -> bool:
    if len(frame) < P.HEADER_LEN + P.TRAILER_LEN:
        return False
    try:
        P.parse_header(frame[:P.HEADER_LEN])
    except P.ProtocolError:
        return False
    n = P.frame_length(frame[:P.HEADER_LEN])  # bytes after a complete frame are the next frame's
    return len(frame) >= n and P.check_crc(frame[:n]) and P.check_mac(frame[:n], key)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("random"), st.integers(0, 200), st.integers(0, 2**32)),
)


def _mutate(frame: bytes, m) -> bytes:
    kind, pos, value = m
    b = bytearray(frame)
    if kind == "flip":
        b[pos % len(b)] ^= value
    elif kind == "cut":
        del b[pos % len(b):]
    elif kind == "insert":
        b.insert(pos % (len(b) + 1), value)
    else:
        import random

        rnd = random.Random(value)
        return bytes(rnd.getrandbits(8) for _ in range(pos))
    return bytes(b)


@pytest.fixture
def batch_frame(make_terminal, funded_card, rates):
    terminal, key = make_terminal()
    card = funded_card(10000)
    rec = P.Record(term_seq=1, card_no=card.card_no, card_type=1, kind=1, card_counter=0, base_amount=100,
                   balance_before=10000, balance_after=9900, time=int(time.time()) + 1)
    frame = P.encode_frame(P.MsgType.TXN_BATCH, terminal.pk, 2, P.TxnBatch(batch_no=1, records=[rec]), key)
    return terminal, key, frame


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=mutation)
def test_mutated_batch_frames_store_nothing_unless_valid(gateway, batch_frame, m):
    terminal, key, frame = batch_frame
    mutated = _mutate(frame, m)
    before = Record.objects.count()
    _exchange(gateway.port, _sign_in(terminal.pk, key) + mutated)
    after = Record.objects.count()
    if not _valid(mutated, key):
        assert after == before, "a frame failing length, CRC or MAC stored a record"
    # and the gateway still serves a well-formed sign-in
    reply = _exchange(gateway.port, _sign_in(terminal.pk, key))
    assert reply[3] == P.MsgType.SIGN_IN_REPLY
