"""The TCP gateway on a real socket, driven by the virtual terminal (written from the contract)."""

import asyncio
import socket
import struct

import pytest

from accounts.models import Purse
from merchants.models import MerchantKind
from terminals import wire as P
from terminals.ingest.posting import batch_post
from terminals.models import Batch, Record, Terminal
from terminals.wire.client import NackError, VirtualTerminal

from .conftest import run

pytestmark = pytest.mark.django_db(transaction=True)


def purchase(vt, card, amount, **kw):
    bal = kw.pop("balance_before")
    return vt.record(card_no=card.card_no, card_type=card.card_type, kind=1, card_counter=kw.pop("counter", 0),
                     base_amount=amount, surcharge=0, balance_before=bal, balance_after=bal - amount, **kw)


def raw_exchange(port, frame, read=True):
    """Send bytes on a fresh socket; return (type, terminal_id, msg_seq, body, raw) of the reply, and
    whether the host closed the connection afterwards."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(frame)
        data = b""
        while len(data) < P.HEADER_LEN or len(data) < P.frame_length(data[:P.HEADER_LEN]):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        reply = P.decode_frame(data)
        s.settimeout(5)
        closed = s.recv(1) == b""
    return reply, data, closed


def test_sign_in_reports_state(gateway, vterm, rates):
    vt = vterm()

    async def go():
        reply = await vt.connect("127.0.0.1", gateway.port)
        await vt.close()
        return reply

    reply = run(go())
    assert reply.result == 0 and reply.ack_upto == 0 and (reply.recollect_from, reply.recollect_to) == (0, 0)
    t = Terminal.objects.get(pk=vt.terminal_id)
    assert t.last_seen_at is not None and t.firmware_version == 1


def test_batch_ack_only_after_commit_and_posting_once(gateway, vterm, funded_card, rates):
    vt = vterm(MerchantKind.RETAIL)
    card = funded_card(10000)

    async def go():
        await vt.connect("127.0.0.1", gateway.port)
        for i in range(3):
            purchase(vt, card, 100, counter=i, balance_before=10000 - 100 * i)
        acks = await vt.upload()
        await vt.close()
        return acks

    [ack] = run(go())
    assert (ack.stored, ack.duplicates, ack.exceptions, ack.ack_upto) == (3, 0, 0, 3)
    # Committed before the ACK: the rows are there for any other connection to see.
    assert Record.objects.filter(terminal_id=vt.terminal_id).count() == 3
    batch = Batch.objects.get(terminal_id=vt.terminal_id)
    assert bytes(batch.raw)[:2] == b"CC"
    batch_post(batch.pk)
    batch_post(batch.pk)  # a redelivered task changes nothing
    assert Purse.objects.get(pk=card.purse_id).account.balance == 9700


def test_resent_batch_counts_duplicates_and_changes_nothing(gateway, vterm, funded_card, rates):
    vt = vterm(MerchantKind.RETAIL)
    card = funded_card(10000)

    async def go():
        await vt.connect("127.0.0.1", gateway.port)
        recs = [purchase(vt, card, 50, counter=i, balance_before=10000 - 50 * i) for i in range(2)]
        first = await vt.upload(recs)
        again = await vt.upload(recs)  # the terminal missed the ACK and resends
        await vt.close()
        return first[0], again[0]

    first, again = run(go())
    assert (first.stored, first.duplicates, first.exceptions) == (2, 0, 0)
    assert (again.stored, again.duplicates, again.exceptions) == (0, 2, 0)
    assert Record.objects.filter(terminal_id=vt.terminal_id).count() == 2


def test_unknown_terminal_gets_nack_3_with_zero_mac_and_close(gateway):
    frame = P.encode_frame(P.MsgType.SIGN_IN, 99999999, 7, bytes(28), bytes(32))
    frame = frame[:-2] + b"\x00\x00"  # a bad CRC too: unknown terminal wins, whatever else is wrong
    reply, raw, closed = raw_exchange(gateway.port, frame)
    assert reply.type == P.MsgType.NACK and P.Nack_decode(reply.body) == P.Nack.UNKNOWN_TERMINAL
    assert reply.terminal_id == 99999999 and reply.msg_seq == 7
    assert raw[-10:-2] == bytes(8) and closed


@pytest.mark.parametrize("corrupt, code", [
    ("crc", P.Nack.BAD_CRC), ("mac", P.Nack.BAD_MAC), ("version", P.Nack.UNSUPPORTED),
    ("type", P.Nack.UNSUPPORTED), ("body", P.Nack.MALFORMED), ("size", P.Nack.TOO_LARGE),
])
def test_bad_frames_get_their_nack_and_the_connection_closes(gateway, make_terminal, corrupt, code):
    terminal, key = make_terminal()
    body = P.SignIn(firmware_version=1, blocklist_version=0, params_version=0, last_seq=0, unsent=0,
                    clock=0).encode()
    frame = bytearray(P.encode_frame(P.MsgType.SIGN_IN, terminal.pk, 5, body, key))
    if corrupt == "crc":
        frame[-1] ^= 0xFF
    elif corrupt == "mac":
        frame[-5] ^= 0xFF
        frame[-2:] = P.crc16_ccitt_false(bytes(frame[2:-2])).to_bytes(2, "big")
    elif corrupt == "version":
        frame = bytearray(P.encode_frame(P.MsgType.SIGN_IN, terminal.pk, 5, body, key))
        frame[2] = 2
    elif corrupt == "type":
        frame = bytearray(P.encode_frame(0x55, terminal.pk, 5, body, key))
    elif corrupt == "body":
        frame = bytearray(P.encode_frame(P.MsgType.SIGN_IN, terminal.pk, 5, body[:-1], key))
    elif corrupt == "size":
        frame = bytearray(frame[:12] + struct.pack(">H", 65001))  # refused from the header alone
    reply, raw, closed = raw_exchange(gateway.port, bytes(frame))
    assert reply.type == P.MsgType.NACK and P.Nack_decode(reply.body) == code
    assert reply.terminal_id == terminal.pk and reply.msg_seq == 5 and closed
    assert P.check_mac(raw, key)  # a NACK to a known terminal carries its MAC


def test_request_before_sign_in_gets_nack_8_and_may_then_sign_in(gateway, vterm):
    vt = vterm()

    async def go():
        await vt.connect("127.0.0.1", gateway.port, sign_in=False)
        with pytest.raises(NackError) as err:
            await vt.heartbeat()
        reply = await vt.sign_in()
        await vt.close()
        return err.value.code, reply

    code, reply = run(go())
    assert code == P.Nack.NOT_SIGNED_IN and reply.result == 0


def test_disabled_terminal_gets_nack_4(gateway, vterm, admin_user):
    from terminals.services import terminal_set_status

    vt = vterm()
    terminal_set_status(actor=admin_user, terminal=Terminal.objects.get(pk=vt.terminal_id), status="disabled",
                        reason="test")

    async def go():
        with pytest.raises(NackError) as err:
            await vt.connect("127.0.0.1", gateway.port)
        return err.value.code

    assert run(go()) == P.Nack.DISABLED


def test_terminal_of_revoked_merchant_gets_nack_4(gateway, vterm, merchants):
    vt = vterm(MerchantKind.WATER)
    merchants[MerchantKind.WATER].__class__.objects.filter(pk=merchants[MerchantKind.WATER].pk).update(status="revoked")

    async def go():
        with pytest.raises(NackError) as err:
            await vt.connect("127.0.0.1", gateway.port)
        return err.value.code

    assert run(go()) == P.Nack.DISABLED


def test_second_sign_in_closes_the_older_connection(gateway, vterm):
    vt = vterm()
    twin = VirtualTerminal(terminal_id=vt.terminal_id, key=vt.key)

    async def go():
        await vt.connect("127.0.0.1", gateway.port)
        await twin.connect("127.0.0.1", gateway.port)
        kind, _, exc = await asyncio.wait_for(vt._replies.get(), 5)  # the reader saw the close
        await twin.heartbeat()
        await twin.close()
        return kind

    assert run(go()) is None


def test_bad_record_fields_are_stored_as_exceptions_not_refused(gateway, vterm, funded_card, rates):
    """A record with bad field values never blocks the records behind it (contract, TXN_BATCH)."""
    vt = vterm(MerchantKind.RETAIL)
    card = funded_card(10000)

    async def go():
        await vt.connect("127.0.0.1", gateway.port)
        bad = purchase(vt, card, 100, counter=0, balance_before=10000)
        bad.flags = 0x80  # bits 2–7 must be zero
        good = purchase(vt, card, 100, counter=1, balance_before=9900)
        body = P.TxnBatch(batch_no=1, records=[bad, good]).encode(validate=False)
        ack = await vt.request(P.MsgType.TXN_BATCH, body)
        await vt.close()
        return ack

    ack = run(go())
    assert (ack.stored, ack.exceptions, ack.ack_upto) == (2, 1, 2)
    bad = Record.objects.get(terminal_id=vt.terminal_id, term_seq=1)
    assert bad.status == "exception" and any(p.startswith("field:") for p in bad.problems)


def test_gateway_keeps_serving_others_after_garbage(gateway, vterm):
    vt = vterm()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
        s.sendall(b"\x00" * 14)  # terminal 0 is unknown: NACK 3 and close
        assert s.recv(100)[3] == P.MsgType.NACK

    async def go():
        reply = await vt.connect("127.0.0.1", gateway.port)
        await vt.close()
        return reply

    assert run(go()).result == 0
