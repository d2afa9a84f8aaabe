"""The wire codec (terminals/wire/) against POS-PROTOCOL.md: frames byte by byte, every
body, the order of checks, serial resynchronisation, and the record checks. No database."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminals import wire as P

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TID = 0x01020304
SEQ = 0x0A0B0C0D
PROPS = settings(max_examples=300, deadline=None)


def keys(tid: int) -> bytes | None:
    return KEY if tid == TID else None


def record(**over) -> P.Record:
    values = dict(term_seq=7, card_no=123456, card_type=2, kind=1, card_counter=41, flags=0, reserved=bytes(3),
                  base_amount=1000, surcharge=150, balance_before=5000, balance_after=3850, time=1_700_000_000,
                  operator_no=0)
    values.update(over)
    return P.Record(**values)


def heartbeat_body() -> P.Heartbeat:
    return P.Heartbeat(firmware_version=0x0102, blocklist_version=0x1122334455667788, params_version=9,
                       last_seq=1000, unsent=3, clock=1_700_000_123, reserved=0)


def assert_code(exc_info, code: P.Nack):
    assert exc_info.value.code == code, exc_info.value


# --- CRC and MAC ----------------------------------------------------------------------------


def test_crc_check_value():
    assert P.crc16_ccitt_false(b"123456789") == 0x29B1
    assert P.crc16_ccitt_false_table(b"123456789") == 0x29B1
    assert P.crc16_ccitt_false(b"") == 0xFFFF


@PROPS
@given(st.binary(max_size=2000))
def test_crc_fast_equals_table(data):
    assert P.crc16_ccitt_false(data) == P.crc16_ccitt_false_table(data)


def test_mac_is_hmac_sha256_prefix():
    assert P.mac(KEY, b"abc") == hmac.new(KEY, b"abc", hashlib.sha256).digest()[:8]
    assert len(P.mac(KEY, b"")) == 8


# --- the golden frame -----------------------------------------------------------------------


def test_golden_heartbeat_frame_byte_by_byte():
    body = struct.pack(">HQIIIIH", 0x0102, 0x1122334455667788, 9, 1000, 3, 1_700_000_123, 0)
    assert len(body) == 28
    assert heartbeat_body().encode() == body
    n = len(body)
    signed = bytes([0x01, 0x02]) + bytes.fromhex("01020304") + bytes.fromhex("0A0B0C0D") + n.to_bytes(2, "big") + body
    tag = hmac.new(KEY, signed, hashlib.sha256).digest()[:8]
    crc = P.crc16_ccitt_false_table(signed + tag)
    golden = b"\x43\x43" + signed + tag + crc.to_bytes(2, "big")

    frame = P.encode_frame(P.MsgType.HEARTBEAT, TID, SEQ, body, KEY)
    assert frame == golden
    assert len(frame) == 14 + n + 10
    assert frame[0:2] == b"CC"
    assert frame[2] == 1  # version
    assert frame[3] == 0x02  # type
    assert frame[4:8] == b"\x01\x02\x03\x04"
    assert frame[8:12] == b"\x0a\x0b\x0c\x0d"
    assert frame[12:14] == b"\x00\x1c"
    assert frame[14:14 + n] == body
    # MAC over bytes 2 … 13+n, CRC over bytes 2 … 21+n
    assert frame[14 + n:22 + n] == hmac.new(KEY, frame[2:14 + n], hashlib.sha256).digest()[:8]
    assert frame[22 + n:24 + n] == P.crc16_ccitt_false_table(frame[2:22 + n]).to_bytes(2, "big")
    # a body object is accepted too, and the checks pass
    assert P.encode_frame(P.MsgType.HEARTBEAT, TID, SEQ, heartbeat_body(), KEY) == golden
    assert P.check_crc(frame) and P.check_mac(frame, KEY) and not P.check_mac(frame, OTHER_KEY)
    got = P.verify_frame(frame, keys)
    assert got == P.Frame(P.MsgType.HEARTBEAT, TID, SEQ, body)
    assert got.decode_body() == heartbeat_body()
    assert isinstance(got.decode_body(), P.Heartbeat)


def test_nack3_has_zero_mac_and_needs_no_key():
    frame = P.nack_frame(P.Nack.UNKNOWN_TERMINAL, 99, 5, None)
    assert frame[3] == 0x7F and frame[14:16] == b"\x03\x00"
    assert frame[16:24] == bytes(8)
    assert P.check_crc(frame)
    assert P.encode_frame(P.MsgType.NACK, 99, 5, P.Nack_body(3), None) == frame
    got = P.verify_host_frame(frame, KEY)  # the terminal accepts it without a MAC
    assert P.Nack_decode(got.body) == P.Nack.UNKNOWN_TERMINAL
    # no other frame may go without a key
    with pytest.raises(ValueError):
        P.encode_frame(P.MsgType.NACK, 99, 5, P.Nack_body(P.Nack.BAD_MAC), None)
    with pytest.raises(ValueError):
        P.encode_frame(P.MsgType.HEARTBEAT, 99, 5, heartbeat_body(), None)
    # and a zero MAC on another NACK is refused by the terminal
    forged = bytearray(P.nack_frame(P.Nack.BAD_MAC, TID, 5, KEY))
    forged[16:24] = bytes(8)
    forged[24:26] = P.crc16_ccitt_false(bytes(forged[2:24])).to_bytes(2, "big")
    with pytest.raises(P.ProtocolError) as exc:
        P.verify_host_frame(bytes(forged), KEY)
    assert_code(exc, P.Nack.BAD_MAC)


def test_host_frame_is_signed_with_terminal_key():
    frame = P.nack_frame(P.Nack.NOT_SIGNED_IN, TID, SEQ, KEY)
    assert P.verify_host_frame(frame, KEY).msg_seq == SEQ
    with pytest.raises(P.ProtocolError) as exc:
        P.verify_host_frame(frame, OTHER_KEY)
    assert_code(exc, P.Nack.BAD_MAC)


def test_encode_frame_refuses_out_of_range():
    with pytest.raises(ValueError):
        P.encode_frame(1, TID, SEQ, bytes(P.MAX_BODY + 1), KEY)
    with pytest.raises(ValueError):
        P.encode_frame(1, 1 << 32, SEQ, b"", KEY)
    with pytest.raises(ValueError):
        P.encode_frame(256, TID, SEQ, b"", KEY)
    with pytest.raises(TypeError):
        P.encode_frame(1, TID, SEQ, "text", KEY)
    assert len(P.encode_frame(1, TID, SEQ, bytes(P.MAX_BODY), KEY)) == P.MAX_FRAME


# --- header and the order of checks ---------------------------------------------------------


def test_parse_header():
    frame = P.encode_frame(P.MsgType.SIGN_IN, TID, SEQ, heartbeat_body(), KEY)
    assert P.parse_header(frame[:14]) == (P.MsgType.SIGN_IN, TID, SEQ, 28)
    assert P.header_ids(frame[:14]) == (TID, SEQ)
    assert P.frame_length(frame[:14]) == len(frame)
    # unknown types are left to decode_body
    assert P.parse_header(b"CC\x01\x55" + bytes(10))[0] == 0x55


def test_oversize_body_len_refused_from_header_alone():
    header = b"CC\x01\x10" + TID.to_bytes(4, "big") + SEQ.to_bytes(4, "big") + (65001).to_bytes(2, "big")
    with pytest.raises(P.ProtocolError) as exc:
        P.parse_header(header)  # 14 bytes only: the body is never needed
    assert_code(exc, P.Nack.TOO_LARGE)
    assert (exc.value.terminal_id, exc.value.msg_seq) == (TID, SEQ)
    assert P.parse_header(header[:12] + (65000).to_bytes(2, "big"))[3] == 65000


def test_bad_version_is_unsupported():
    header = b"CC\x02\x01" + TID.to_bytes(4, "big") + SEQ.to_bytes(4, "big") + b"\x00\x1c"
    with pytest.raises(P.ProtocolError) as exc:
        P.parse_header(header)
    assert_code(exc, P.Nack.UNSUPPORTED)
    assert exc.value.detail == 2


def test_bad_magic_is_malformed():
    with pytest.raises(P.ProtocolError) as exc:
        P.parse_header(b"CD\x01\x01" + bytes(10))
    assert_code(exc, P.Nack.MALFORMED)
    with pytest.raises(P.ProtocolError) as exc:
        P.parse_header(b"CC\x01")
    assert_code(exc, P.Nack.MALFORMED)


def flip(frame: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(frame)
    out[index] ^= mask
    return bytes(out)


def test_verify_frame_order_of_checks():
    frame = P.encode_frame(P.MsgType.HEARTBEAT, TID, SEQ, heartbeat_body(), KEY)
    n = 28

    def code(raw, lookup=keys):
        with pytest.raises(P.ProtocolError) as exc:
            P.verify_frame(raw, lookup)
        return exc.value.code

    # unknown terminal wins over everything, bad CRC and bad version included
    unknown = lambda tid: None  # noqa: E731
    assert code(frame, unknown) == P.Nack.UNKNOWN_TERMINAL
    assert code(flip(frame, 22 + n), unknown) == P.Nack.UNKNOWN_TERMINAL
    assert code(flip(frame, 2, 0x03), unknown) == P.Nack.UNKNOWN_TERMINAL
    assert code(flip(frame, 0), unknown) == P.Nack.UNKNOWN_TERMINAL
    # header before CRC
    assert code(flip(frame, 2, 0x03)) == P.Nack.UNSUPPORTED
    assert code(flip(frame, 0)) == P.Nack.MALFORMED
    too_large = frame[:12] + (65001).to_bytes(2, "big") + frame[14:]
    assert code(too_large) == P.Nack.TOO_LARGE
    # length
    assert code(frame[:-1]) == P.Nack.MALFORMED
    assert code(frame + b"\x00") == P.Nack.MALFORMED
    # CRC before MAC: a body change breaks both, CRC is reported
    assert code(flip(frame, 20)) == P.Nack.BAD_CRC
    assert code(flip(frame, 22 + n)) == P.Nack.BAD_CRC
    # a good CRC over a wrong MAC
    bad_mac = bytearray(frame)
    bad_mac[14 + n] ^= 0xFF
    bad_mac[22 + n:24 + n] = P.crc16_ccitt_false(bytes(bad_mac[2:22 + n])).to_bytes(2, "big")
    assert code(bytes(bad_mac)) == P.Nack.BAD_MAC
    assert code(frame, lambda tid: OTHER_KEY) == P.Nack.BAD_MAC
    # the error names the frame, for the NACK
    with pytest.raises(P.ProtocolError) as exc:
        P.verify_frame(flip(frame, 20), keys)
    assert (exc.value.terminal_id, exc.value.msg_seq) == (TID, SEQ)


def test_check_crc_and_mac_refuse_wrong_length():
    frame = P.encode_frame(P.MsgType.HEARTBEAT, TID, SEQ, heartbeat_body(), KEY)
    for raw in (frame[:-1], frame + b"x", b"", frame[:23]):
        assert not P.check_crc(raw)
        assert not P.check_mac(raw, KEY)


# --- bodies ---------------------------------------------------------------------------------

BODIES = [
    (P.MsgType.SIGN_IN, P.SignIn(firmware_version=3, blocklist_version=2**64 - 1, params_version=2**32 - 1,
                                 last_seq=10, unsent=2, clock=1_700_000_000)),
    (P.MsgType.HEARTBEAT, heartbeat_body()),
    (P.MsgType.TXN_BATCH, P.TxnBatch(batch_no=77, records=[record(), record(term_seq=8, kind=2, surcharge=0,
                                                                          balance_after=6000, operator_no=12,
                                                                          flags=3)])),
    (P.MsgType.RECORDS_LOST, P.RecordsLost(from_seq=5, to_seq=9)),
    (P.MsgType.BLOCKLIST_REQ, P.BlocklistReq(have_version=123, max_entries=1000)),
    (P.MsgType.BLOCKLIST_APPLIED, P.BlocklistApplied(version=2**40)),
    (P.MsgType.PARAMS_REQ, P.ParamsReq(have_version=4)),
    (P.MsgType.PENDING_REQ, P.PendingReq(card_no=555)),
    (P.MsgType.SIGN_IN_REPLY, P.SignInReply(result=0, server_time=1_700_000_000, blocklist_version=12,
                                            params_version=3, ack_upto=100, offline_until=1_700_086_400,
                                            recollect_from=101, recollect_to=110)),
    (P.MsgType.HEARTBEAT_REPLY, P.HeartbeatReply(server_time=1, blocklist_version=2, params_version=3, ack_upto=4,
                                                 offline_until=0)),
    (P.MsgType.BATCH_ACK, P.BatchAck(batch_no=77, result=0, ack_upto=8, stored=1, duplicates=1, exceptions=1)),
    (P.MsgType.RECORDS_LOST_REPLY, P.RecordsLostReply(result=0, ack_upto=9)),
    (P.MsgType.BLOCKLIST_DELTA, P.BlocklistDelta(from_version=10, to_version=13, full=0, more=1,
                                                 entries=[(1, 1), (2, 0), (2**32 - 1, 1)])),
    (P.MsgType.BLOCKLIST_DELTA, P.BlocklistDelta(from_version=0, to_version=0, full=1, more=0, entries=[])),
    (P.MsgType.BLOCKLIST_APPLIED_REPLY, P.BlocklistAppliedReply(result=0)),
    (P.MsgType.PARAMS, P.Params(params_version=5, merchant_kind=2, board_fee_bp=1000, energy_fee_bp=500,
                                water_multiplier_pct=200, max_single=5000, max_offline_daily=20000,
                                offline_until=0, min_interval_s=10)),
    (P.MsgType.PENDING, P.Pending(card_no=555, result=0, pending=1234)),
    (P.MsgType.PENDING, P.Pending(card_no=556, result=6, pending=0)),
    (P.MsgType.NACK, P.NackBody(code=P.Nack.BUSY, detail=0)),
]
SIZES = {P.MsgType.SIGN_IN: 28, P.MsgType.HEARTBEAT: 28, P.MsgType.SIGN_IN_REPLY: 33, P.MsgType.HEARTBEAT_REPLY: 33,
         P.MsgType.BATCH_ACK: 15, P.MsgType.RECORDS_LOST: 8, P.MsgType.RECORDS_LOST_REPLY: 5,
         P.MsgType.BLOCKLIST_REQ: 10, P.MsgType.BLOCKLIST_APPLIED: 8, P.MsgType.BLOCKLIST_APPLIED_REPLY: 1,
         P.MsgType.PARAMS_REQ: 4, P.MsgType.PARAMS: 33, P.MsgType.PENDING_REQ: 4, P.MsgType.PENDING: 9,
         P.MsgType.NACK: 2}


@pytest.mark.parametrize("msg_type,body", BODIES, ids=lambda v: getattr(v, "name", type(v).__name__))
def test_body_round_trip(msg_type, body):
    raw = body.encode()
    if msg_type in SIZES:
        assert len(raw) == SIZES[msg_type]
    decoded = P.decode_body(msg_type, raw)
    assert decoded == body
    assert type(decoded) is P.BODY_CLASSES[msg_type]
    assert decoded.encode() == raw
    # and through a whole frame
    frame = P.encode_frame(msg_type, TID, SEQ, raw, KEY)
    assert P.verify_frame(frame, keys).decode_body() == body


def test_every_type_has_a_body_class():
    assert set(P.BODY_CLASSES) == set(P.MsgType)
    for request, reply in P.REPLY_TYPE.items():
        assert reply == request | 0x80 and P.reply_type(request) == reply
        assert P.is_request(request) and not P.is_request(reply)
    assert not P.is_request(P.MsgType.NACK)
    with pytest.raises(P.ProtocolError):
        P.reply_type(P.MsgType.NACK)


def test_record_layout_by_hand():
    rec = record(flags=1, card_counter=0xBEEF)
    raw = rec.encode()
    assert len(raw) == 40
    assert raw == struct.pack(">IIBBHB3sIIIIII", 7, 123456, 2, 1, 0xBEEF, 1, bytes(3), 1000, 150, 5000, 3850,
                              1_700_000_000, 0)
    body = struct.pack(">IH", 9, 1) + raw
    batch = P.decode_body(P.MsgType.TXN_BATCH, body)
    assert batch.batch_no == 9 and batch.count == 1
    assert batch.records[0] == rec
    assert batch.records[0].raw == raw
    assert batch.records[0].offline and not batch.records[0].write_uncertain
    assert P.Record.decode(raw).raw == raw


def test_max_batch_round_trip():
    recs = [record(term_seq=i) for i in range(1, 501)]
    body = P.TxnBatch(batch_no=1, records=recs).encode()
    assert len(body) == 6 + 40 * 500
    got = P.TxnBatch.decode(body)
    assert got.records == recs
    assert all(r.raw == body[6 + 40 * i:46 + 40 * i] for i, r in enumerate(got.records))


@pytest.mark.parametrize("msg_type,size", sorted(SIZES.items()))
def test_every_wrong_fixed_length_is_malformed(msg_type, size):
    good = next(b for t, b in BODIES if t == msg_type).encode()
    for n in {0, 1, size - 1, size + 1, size * 2} - {size}:
        raw = (good * 3)[:n]
        with pytest.raises(P.ProtocolError) as exc:
            P.decode_body(msg_type, raw)
        assert_code(exc, P.Nack.MALFORMED)


def batch_body(count_field: int, records: int) -> bytes:
    return struct.pack(">IH", 1, count_field) + record().encode() * records


@pytest.mark.parametrize("body", [
    b"", b"\x00" * 5, batch_body(1, 0), batch_body(2, 1), batch_body(1, 2), batch_body(1, 1) + b"\x00",
    batch_body(1, 1)[:-1], batch_body(0, 0), batch_body(501, 501), batch_body(500, 499),
])
def test_txn_batch_malformed_lengths_and_counts(body):
    with pytest.raises(P.ProtocolError) as exc:
        P.decode_body(P.MsgType.TXN_BATCH, body)
    assert_code(exc, P.Nack.MALFORMED)


def test_txn_batch_count_0_and_501_refused_on_encode_too():
    with pytest.raises(ValueError):
        P.TxnBatch(batch_no=1, records=[]).encode()
    with pytest.raises(ValueError):
        P.TxnBatch(batch_no=1, records=[record(term_seq=i) for i in range(1, 502)]).encode()


@pytest.mark.parametrize("body", [
    b"\x00" * 19,
    struct.pack(">QQBBH", 1, 2, 0, 0, 1),
    struct.pack(">QQBBH", 1, 2, 0, 0, 1) + b"\x00" * 6,
    struct.pack(">QQBBH", 1, 2, 0, 0, 0) + b"\x00",
])
def test_blocklist_delta_malformed_lengths(body):
    with pytest.raises(P.ProtocolError) as exc:
        P.decode_body(P.MsgType.BLOCKLIST_DELTA, body)
    assert_code(exc, P.Nack.MALFORMED)


@pytest.mark.parametrize("flags", [0x04, 0x08, 0x80, 0xFF, 0x05])
def test_record_flags_bits_2_to_7_are_malformed(flags):
    body = struct.pack(">IH", 1, 1) + record(flags=flags).encode(validate=False)
    with pytest.raises(P.ProtocolError) as exc:
        P.decode_body(P.MsgType.TXN_BATCH, body)
    assert_code(exc, P.Nack.MALFORMED)
    # lenient decode keeps the record as it came, for the host to hold as an exception
    rec = P.decode_body(P.MsgType.TXN_BATCH, body, strict=False).records[0]
    assert rec.flags == flags and P.record_field_problems(rec)
    with pytest.raises(ValueError):
        record(flags=flags).encode()


@pytest.mark.parametrize("over", [dict(reserved=b"\x00\x00\x01"), dict(card_type=0), dict(card_type=4),
                                  dict(kind=0), dict(kind=3)])
def test_record_invalid_values_are_malformed(over):
    body = struct.pack(">IH", 1, 1) + record(**over).encode(validate=False)
    with pytest.raises(P.ProtocolError) as exc:
        P.TxnBatch.decode(body)
    assert_code(exc, P.Nack.MALFORMED)
    with pytest.raises(P.ProtocolError):
        P.Record.decode(record(**over).encode(validate=False))


@pytest.mark.parametrize("msg_type,body", [
    (P.MsgType.SIGN_IN, struct.pack(">HQIIIIH", 1, 0, 0, 0, 0, 0, 1)),  # reserved
    (P.MsgType.HEARTBEAT, struct.pack(">HQIIIIH", 1, 0, 0, 0, 0, 0, 0x8000)),
    (P.MsgType.SIGN_IN_REPLY, struct.pack(">BIQIIIII", 1, 0, 0, 0, 0, 0, 0, 0)),  # result
    (P.MsgType.SIGN_IN_REPLY, struct.pack(">BIQIIIII", 0, 0, 0, 0, 0, 0, 5, 0)),  # recollect half set
    (P.MsgType.SIGN_IN_REPLY, struct.pack(">BIQIIIII", 0, 0, 0, 0, 0, 0, 9, 5)),  # recollect backwards
    (P.MsgType.BATCH_ACK, struct.pack(">IBIHHH", 1, 2, 0, 1, 0, 0)),  # result
    (P.MsgType.BATCH_ACK, struct.pack(">IBIHHH", 1, 0, 0, 1, 0, 2)),  # exceptions > count
    (P.MsgType.BATCH_ACK, struct.pack(">IBIHHH", 1, 0, 0, 0, 0, 0)),  # count 0
    (P.MsgType.BATCH_ACK, struct.pack(">IBIHHH", 1, 0, 0, 400, 101, 0)),  # count 501
    (P.MsgType.RECORDS_LOST, struct.pack(">II", 0, 5)),
    (P.MsgType.RECORDS_LOST, struct.pack(">II", 6, 5)),
    (P.MsgType.RECORDS_LOST_REPLY, struct.pack(">BI", 1, 0)),
    (P.MsgType.BLOCKLIST_APPLIED_REPLY, b"\x01"),
    (P.MsgType.BLOCKLIST_DELTA, struct.pack(">QQBBH", 1, 2, 2, 0, 0)),  # full
    (P.MsgType.BLOCKLIST_DELTA, struct.pack(">QQBBH", 1, 2, 0, 2, 0)),  # more
    (P.MsgType.BLOCKLIST_DELTA, struct.pack(">QQBBH", 1, 2, 0, 0, 1) + struct.pack(">IB", 7, 2)),  # op
    (P.MsgType.PARAMS, struct.pack(">IBHHHIIIH8s", 1, 0, 0, 0, 100, 0, 0, 0, 0, bytes(8))),  # merchant_kind
    (P.MsgType.PARAMS, struct.pack(">IBHHHIIIH8s", 1, 5, 0, 0, 100, 0, 0, 0, 0, bytes(8))),
    (P.MsgType.PARAMS, struct.pack(">IBHHHIIIH8s", 1, 1, 0, 0, 100, 0, 0, 0, 0, b"\x00" * 7 + b"\x01")),
    (P.MsgType.PENDING, struct.pack(">IBI", 1, 1, 0)),  # result
    (P.MsgType.NACK, b"\x00\x00"),  # code
    (P.MsgType.NACK, b"\x0a\x00"),
])
def test_invalid_field_values_are_malformed(msg_type, body):
    with pytest.raises(P.ProtocolError) as exc:
        P.decode_body(msg_type, body)
    assert_code(exc, P.Nack.MALFORMED)


def test_unknown_type_is_unsupported():
    for t in (0x00, 0x03, 0x12, 0x80, 0xFF):
        with pytest.raises(P.ProtocolError) as exc:
            P.decode_body(t, b"")
        assert_code(exc, P.Nack.UNSUPPORTED)


def test_nack_helpers():
    assert P.Nack_body(P.Nack.BAD_CRC) == b"\x01\x00"
    assert P.Nack_decode(b"\x07\x00") == P.Nack.TOO_LARGE
    assert P.NackBody.decode(b"\x05\x02") == P.NackBody(code=5, detail=2)
    with pytest.raises(P.ProtocolError):
        P.Nack_decode(b"\x01")


def test_encode_refuses_values_out_of_range():
    with pytest.raises(ValueError):
        P.BatchAck(batch_no=1, ack_upto=-1, stored=1, duplicates=0, exceptions=0).encode()
    with pytest.raises(ValueError):
        P.Pending(card_no=2**32, result=0, pending=0).encode()
    with pytest.raises(ValueError):
        P.BlocklistDelta(from_version=0, to_version=1, entries=[(1, 1)] * (P.MAX_DELTA_ENTRIES + 1)).encode()
    delta = P.BlocklistDelta(from_version=0, to_version=1, entries=[(1, 1)] * P.MAX_DELTA_ENTRIES).encode()
    assert len(delta) <= P.MAX_BODY


# --- serial stream decoder ------------------------------------------------------------------


def frames(count: int = 3) -> list[bytes]:
    out = []
    for i in range(count):
        body = heartbeat_body() if i % 2 == 0 else P.TxnBatch(batch_no=i, records=[record(term_seq=i + 1)])
        out.append(P.encode_frame(P.MsgType.HEARTBEAT if i % 2 == 0 else P.MsgType.TXN_BATCH, TID, i + 1,
                                  body, KEY))
    return out


def test_decoder_finds_frames_split_anywhere():
    stream = b"".join(frames(3))
    for step in (1, 2, 7, 13, 64, len(stream)):
        dec = P.StreamDecoder()
        got = []
        for i in range(0, len(stream), step):
            got += dec.feed(stream[i:i + step])
        assert got == frames(3)
        assert dec.buffered == 0 and dec.stats["skipped_bytes"] == 0


def test_decoder_resynchronises_after_garbage():
    good = frames(2)
    garbage = b"\x00\xffCCC\x02garbage C" + b"CC\x09\x02" + bytes(5)
    dec = P.StreamDecoder()
    events = dec.feed_events(garbage + good[0] + b"xx" + good[1])
    got = [e for e in events if isinstance(e, P.RawFrame)]
    assert got == good
    skipped = [e for e in events if isinstance(e, P.Skipped)]
    assert sum(s.count for s in skipped) == len(garbage) + 2
    assert isinstance(events[0], P.Skipped) and events[0].count == len(garbage)
    assert got[0].terminal_id == TID and got[0].msg_seq == 1 and got[0].type == P.MsgType.HEARTBEAT
    assert P.check_mac(got[0], KEY)


def test_decoder_drops_frame_with_flipped_crc_and_finds_the_next():
    bad, good = frames(2)
    bad = flip(bad, len(bad) - 1, 0x10)
    dec = P.StreamDecoder()
    events = dec.feed_events(bad + good)
    assert [e for e in events if isinstance(e, P.RawFrame)] == [good]
    assert events[0] == P.Skipped(len(bad), ("bad_crc", "garbage"))
    assert dec.stats["bad_crc"] == 1 and dec.stats["skipped_bytes"] == len(bad)


def test_decoder_drops_bad_version_and_oversize_length():
    good = frames(1)[0]
    bad_version = b"CC\x02" + good[3:]
    oversize = b"CC\x01\x10" + bytes(8) + (65001).to_bytes(2, "big")
    dec = P.StreamDecoder()
    assert dec.feed(bad_version + oversize + good) == [good]
    assert dec.stats["bad_version"] == 1 and dec.stats["too_large"] == 1


def test_decoder_waits_for_a_claimed_frame_then_idle_recovers():
    good = frames(1)[0]
    # a spurious magic claiming a 60000-byte body swallows the good frame until idle()
    spurious = b"CC\x01\x01" + bytes(8) + (60000).to_bytes(2, "big")
    dec = P.StreamDecoder()
    assert dec.feed(spurious + good) == []
    assert dec.buffered == len(spurious + good)
    events = dec.idle()
    assert [e for e in events if isinstance(e, P.RawFrame)] == [good]
    assert dec.buffered == 0
    # … or the line goes on, the candidate's CRC fails, and the frame is found in the buffer
    dec = P.StreamDecoder()
    noise = bytes(60000)
    out = dec.feed(spurious + good) + dec.feed(noise) + dec.feed(good)
    assert out == [good, good]


def test_decoder_buffer_is_bounded():
    dec = P.StreamDecoder()
    # endless candidates that each claim the largest body
    header = b"CC\x01\x01" + bytes(8) + (P.MAX_BODY).to_bytes(2, "big")
    for _ in range(40):
        dec.feed(header * 1000)
        assert dec.buffered <= P.StreamDecoder.MAX_BUFFER
        assert dec.buffered < P.MAX_FRAME
    dec.feed(bytes(1_000_000))
    assert dec.buffered <= 1
    dec.feed(b"C" * 200_000)
    assert dec.buffered < P.HEADER_LEN  # "CC…" could still begin a header
    good = frames(1)[0]
    assert dec.feed(good) == [good]


def test_decoder_keeps_a_trailing_magic_byte():
    good = frames(1)[0]
    dec = P.StreamDecoder()
    assert dec.feed(b"junk" + good[:1]) == []
    assert dec.feed(good[1:]) == [good]


# --- property tests -------------------------------------------------------------------------


@PROPS
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_parsers(data):
    for call in (lambda: P.parse_header(data), lambda: P.verify_frame(data, keys),
                 lambda: P.verify_frame(data, lambda tid: KEY), lambda: P.verify_host_frame(data, KEY),
                 lambda: P.decode_frame(data)):
        try:
            call()
        except P.ProtocolError:
            pass
    assert P.check_crc(data) in (True, False)
    assert P.check_mac(data, KEY) in (True, False)


@PROPS
@given(st.integers(0, 255), st.binary(max_size=300))
def test_random_bodies_never_crash_decode(msg_type, body):
    for strict in (True, False):
        try:
            decoded = P.decode_body(msg_type, body, strict=strict)
        except P.ProtocolError as exc:
            assert exc.code in (P.Nack.MALFORMED, P.Nack.UNSUPPORTED)
        else:
            # whatever decodes, encodes back to the same bytes
            assert decoded.encode(validate=False) == body


@PROPS
@given(st.lists(st.binary(max_size=400), max_size=8))
def test_random_stream_never_crashes_decoder(chunks):
    dec = P.StreamDecoder()
    for chunk in chunks:
        for frame in dec.feed(chunk):
            assert P.check_crc(frame)
        assert dec.buffered <= P.StreamDecoder.MAX_BUFFER
    for e in dec.idle():
        assert isinstance(e, P.Skipped) or P.check_crc(e)
    assert dec.buffered == 0


@PROPS
@given(st.binary(max_size=300), st.lists(st.integers(1, 97), max_size=6), st.integers(0, 2))
def test_decoder_finds_frame_after_any_garbage(garbage, cuts, which):
    good = frames(3)[which]
    stream = garbage + good
    dec = P.StreamDecoder()
    got, last = [], 0
    for cut in sorted({min(c * 7, len(stream)) for c in cuts}):
        got += dec.feed(stream[last:cut])
        last = cut
    got += dec.feed(stream[last:])
    got += [e for e in dec.idle() if isinstance(e, P.RawFrame)]
    assert good in got


body_strategy = st.sampled_from([b for _, b in BODIES])


@PROPS
@given(body_strategy, st.integers(0, 2**32 - 1), st.data())
def test_bit_flip_never_accepted(body, msg_seq, data):
    msg_type = next(t for t, b in BODIES if b is body)
    frame = P.encode_frame(msg_type, TID, msg_seq, body, KEY)
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    mutated = flip(frame, bit // 8, 1 << (bit % 8))
    assert P.verify_frame(frame, keys).body == body.encode()
    with pytest.raises(P.ProtocolError):
        P.verify_frame(mutated, keys)
    with pytest.raises(P.ProtocolError):
        P.verify_host_frame(mutated, KEY)
    # the decoder may only pass on frames whose CRC happens to hold; the MAC still refuses them
    assert not any(P.check_mac(f, KEY) for f in P.StreamDecoder().feed(mutated))
    if bit >= 16:  # the magic is covered by neither CRC nor MAC: parse_header checks it
        assert not (P.check_crc(mutated) and P.check_mac(mutated, KEY))


@PROPS
@given(body_strategy, st.data())
def test_byte_mutations_accepted_only_when_no_op(body, data):
    msg_type = next(t for t, b in BODIES if b is body)
    frame = P.encode_frame(msg_type, TID, 1, body, KEY)
    mutated = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4))):
        mutated[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    try:
        P.verify_frame(bytes(mutated), keys)
        accepted = True
    except P.ProtocolError:
        accepted = False
    assert accepted == (bytes(mutated) == frame)
    if mutated[:2] == frame[:2]:
        assert (P.check_crc(bytes(mutated)) and P.check_mac(bytes(mutated), KEY)) == (bytes(mutated) == frame)


records_strategy = st.builds(
    P.Record, term_seq=st.integers(0, 2**32 - 1), card_no=st.integers(0, 2**32 - 1), card_type=st.integers(1, 3),
    kind=st.integers(1, 2), card_counter=st.integers(0, 2**16 - 1), flags=st.integers(0, 3),
    base_amount=st.integers(0, 2**32 - 1), surcharge=st.integers(0, 2**32 - 1),
    balance_before=st.integers(0, 2**32 - 1), balance_after=st.integers(0, 2**32 - 1),
    time=st.integers(0, 2**32 - 1), operator_no=st.integers(0, 2**32 - 1),
)


@PROPS
@given(st.integers(0, 2**32 - 1), st.lists(records_strategy, min_size=1, max_size=20))
def test_txn_batch_round_trip_property(batch_no, recs):
    body = P.TxnBatch(batch_no=batch_no, records=recs).encode()
    got = P.decode_body(P.MsgType.TXN_BATCH, body)
    assert got.batch_no == batch_no and got.records == recs
    assert b"".join(r.raw for r in got.records) == body[6:]


# --- record checks --------------------------------------------------------------------------


def test_record_arithmetic():
    assert P.record_arithmetic_ok(record())  # 5000 − 1000 − 150 = 3850
    assert not P.record_arithmetic_ok(record(balance_after=3851))
    assert not P.record_arithmetic_ok(record(operator_no=3))  # PURCHASE has no operator
    assert not P.record_arithmetic_ok(record(balance_before=100, base_amount=100, surcharge=10, balance_after=0))
    deposit = dict(kind=2, surcharge=0, base_amount=2000, balance_before=500, balance_after=2500)
    assert P.record_arithmetic_ok(record(**deposit, operator_no=7))
    assert P.record_arithmetic_ok(record(**deposit, operator_no=0))  # pending credit
    assert not P.record_arithmetic_ok(record(**{**deposit, "surcharge": 1, "balance_after": 2501}))
    assert not P.record_arithmetic_ok(record(**{**deposit, "balance_after": 2499}))
    assert not P.record_arithmetic_ok(record(kind=3))
    # a deposit that would overflow the purse can never match a u32 balance_after
    assert not P.record_arithmetic_ok(record(kind=2, surcharge=0, base_amount=10, balance_before=2**32 - 5,
                                             balance_after=4))


@pytest.mark.parametrize("args,expected", [
    ((333, 2, 1, 150, 100, 200), 8),  # 8.325 → 8
    ((1000, 2, 2, 0, 0, 200), 1000),  # water 200 %
    ((5, 3, 1, 1000, 0, 100), 1),  # 0.5 → 1, half-up
    ((15, 2, 1, 1000, 0, 100), 2),  # 1.5 → 2
    ((25, 2, 1, 1000, 0, 100), 3),  # 2.5 → 3 (not banker's)
    ((4, 2, 1, 1000, 0, 100), 0),  # 0.4 → 0
    ((333, 1, 1, 150, 100, 200), 0),  # formal card
    ((333, 2, 3, 150, 100, 200), 0),  # retail
    ((333, 3, 4, 150, 100, 200), 0),  # top-up
    ((250, 3, 2, 0, 0, 150), 125),  # water 150 %
    ((3, 2, 2, 0, 0, 150), 2),  # 1.5 → 2
    ((1001, 2, 2, 0, 0, 100), 0),
    ((0, 2, 1, 1000, 500, 200), 0),
    ((2**32 - 1, 2, 1, 10000, 10000, 100), 2 * (2**32 - 1)),
])
def test_surcharge_expected(args, expected):
    assert P.surcharge_expected(*args) == expected


@PROPS
@given(st.integers(0, 10**7), st.integers(0, 20000), st.integers(0, 20000), st.integers(100, 1000))
def test_surcharge_matches_exact_half_up(base, board, energy, pct):
    from decimal import ROUND_HALF_UP, Decimal

    dining = (Decimal(base) * (board + energy) / 10000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    water = (Decimal(base) * (pct - 100) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert P.surcharge_expected(base, 2, 1, board, energy, pct) == int(dining)
    assert P.surcharge_expected(base, 3, 2, board, energy, pct) == int(water)


def test_surcharge_is_integer_only():
    with pytest.raises(TypeError):
        P.surcharge_expected(3.5, 2, 1, 100, 0, 100)


def test_recollect_range():
    assert P.recollect_range(0, None, 0) == (0, 0)
    assert P.recollect_range(10, None, 10) == (0, 0)
    assert P.recollect_range(10, None, 5) == (0, 0)  # terminal behind the host: nothing to ask
    assert P.recollect_range(10, None, 15) == (11, 15)  # the terminal says it has more
    assert P.recollect_range(10, 14, 20) == (11, 13)  # the host holds 14: first gap only
    assert P.recollect_range(10, 12, 0) == (11, 11)
    assert P.recollect_range(0, 5, 3) == (1, 4)
    with pytest.raises(ValueError):
        P.recollect_range(10, 11, 20)  # ack_upto would not be the end of the run
    with pytest.raises(ValueError):
        P.recollect_range(10, 9, 20)
    reply = P.SignInReply(server_time=0, blocklist_version=0, params_version=0, ack_upto=10, offline_until=0)
    reply.recollect_from, reply.recollect_to = P.recollect_range(10, 14, 20)
    assert P.SignInReply.decode(reply.encode()) == reply


def test_codec_has_no_django():
    """The codec (the wire package without its client) imports the standard library and itself only."""
    import ast
    import inspect

    for module in (P, P.messages, P.frames):
        tree = ast.parse(inspect.getsource(module))
        absolute = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module]
        relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module.split(".")[0] for n in absolute}
        assert names <= {"__future__", "binascii", "hashlib", "hmac", "operator", "struct", "collections",
                         "dataclasses", "enum", "typing"}, module.__name__
        assert all(n.level == 1 and (n.module or "") in ("", "frames", "messages") for n in relative), module.__name__
        if any(n.module is None for n in relative):
            assert {a.name for n in relative if n.module is None for a in n.names} <= {"frames", "messages"}
