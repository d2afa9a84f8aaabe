"""The serial gateway over pyserial's loop:// and socket:// (no hardware): same exchanges,
resynchronisation on garbage, no NACK for a bad CRC."""

import socket
import threading
import time

import pytest
import serial

from terminals import wire as P
from terminals.gateways.serial import SerialGateway
from terminals.models import Record

pytestmark = pytest.mark.django_db(transaction=True)


class Line:
    """The terminal's end of a serial line: socket:// to a local TCP socket the gateway serves."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        port = self.server.getsockname()[1]
        self.gw = SerialGateway(serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=0.1))
        self.conn, _ = self.server.accept()
        self.conn.settimeout(10)
        self.thread = threading.Thread(target=self.gw.run_forever, daemon=True)
        self.thread.start()
        self.decoder = P.StreamDecoder()

    def send(self, data: bytes):
        self.conn.sendall(data)

    def read_frames(self, n=1, timeout=10):
        frames, end = [], time.monotonic() + timeout
        while len(frames) < n and time.monotonic() < end:
            try:
                data = self.conn.recv(65536)
            except TimeoutError:
                break
            frames += self.decoder.feed(data)
        return [P.decode_frame(f) for f in frames]

    def close(self):
        self.gw.stop()
        self.thread.join(5)
        from django.db import connections

        connections.close_all()
        self.conn.close()
        self.server.close()


@pytest.fixture
def line():
    line = Line()
    yield line
    line.close()


def sign_in(terminal, key, seq=1):
    body = P.SignIn(firmware_version=1, blocklist_version=0, params_version=0, last_seq=0, unsent=0, clock=0)
    return P.encode_frame(P.MsgType.SIGN_IN, terminal.pk, seq, body, key)


def test_garbage_and_a_bad_crc_are_skipped_then_the_next_frame_is_answered(line, make_terminal, rates):
    terminal, key = make_terminal()
    bad = bytearray(sign_in(terminal, key, 1))
    bad[-1] ^= 0x55
    line.send(b"\x00\xffCCnoise" + bytes(bad) + sign_in(terminal, key, 2))
    [reply] = line.read_frames(1)
    assert reply.type == P.MsgType.SIGN_IN_REPLY and reply.msg_seq == 2  # no NACK for the bad CRC


def test_several_terminals_share_one_line_and_upload(line, make_terminal, funded_card, rates):
    (t1, k1), (t2, k2) = make_terminal(), make_terminal()
    card = funded_card(1000)
    line.send(sign_in(t1, k1) + sign_in(t2, k2))
    assert [f.terminal_id for f in line.read_frames(2)] == [t1.pk, t2.pk]
    rec = P.Record(term_seq=1, card_no=card.card_no, card_type=1, kind=1, card_counter=0, base_amount=100,
                   balance_before=1000, balance_after=900, time=int(time.time()) + 1)
    line.send(P.encode_frame(P.MsgType.TXN_BATCH, t2.pk, 2, P.TxnBatch(batch_no=1, records=[rec]), k2))
    [ack_frame] = line.read_frames(1)
    ack = P.decode_body(ack_frame.type, ack_frame.body)
    assert (ack_frame.terminal_id, ack.stored, ack.ack_upto) == (t2.pk, 1, 1)
    assert Record.objects.filter(terminal=t2).count() == 1


def test_unknown_terminal_on_serial_gets_nack_3_and_the_line_stays_up(line, make_terminal):
    terminal, key = make_terminal()
    line.send(P.encode_frame(P.MsgType.SIGN_IN, 4242, 1, bytes(28), bytes(32)) + sign_in(terminal, key, 2))
    first, second = line.read_frames(2)
    assert P.Nack_decode(first.body) == P.Nack.UNKNOWN_TERMINAL and second.type == P.MsgType.SIGN_IN_REPLY


def test_loop_url_opens():
    """pyserial's loop:// is what the command accepts without hardware."""
    gw = SerialGateway.open("loop://")
    gw.port.write(b"x")
    assert gw.port.read(1) == b"x"
    gw.port.close()
