"""The intake's binary COPY buffer (terminals.ingest.staging): read back by PostgreSQL itself."""

import pytest
from django.db import connection

from terminals import wire as P
from terminals.ingest.staging import COLUMNS, COPY_SQL, TABLE_COLUMNS, stage_buffer

pytestmark = pytest.mark.django_db


def _rec(seq, **kw):
    fields = dict(term_seq=seq, card_no=4_000_000_000 + seq % 1000, card_type=3, kind=1, card_counter=65535, flags=0x03,
                  base_amount=4_294_967_295, surcharge=7, balance_before=2_000_000_000, balance_after=1,
                  time=1_780_000_000 + seq % 1000, operator_no=0)
    fields.update(kw)
    return P.Record(**fields)


def _staged(batches):
    buf, rising = stage_buffer([(b, t, b"".join(r.encode(validate=False) for r in recs)) for b, t, recs in batches])
    with connection.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE ingest_stage ({TABLE_COLUMNS})")
        cur.cursor.copy_expert(COPY_SQL, buf)
        cur.execute(f"SELECT {', '.join(n for n, _, _ in COLUMNS)} FROM ingest_stage ORDER BY seq")
        rows = cur.fetchall()
        cur.execute("DROP TABLE ingest_stage")
    return rows, rising


def test_every_field_reaches_postgresql_as_its_unsigned_value():
    recs = [_rec(1), _rec(4_294_967_295, kind=2, operator_no=4_294_967_295, flags=0)]
    rows, rising = _staged([(11, 7, recs)])
    assert rising
    for n, (row, rec) in enumerate(zip(rows, recs, strict=True), start=1):
        got = dict(zip([c for c, _, _ in COLUMNS], row, strict=True))
        assert (got["seq"], got["batch_id"], got["terminal_id"]) == (n, 11, 7)
        for name in ("term_seq", "card_no", "card_type", "kind", "card_counter", "flags", "base_amount", "surcharge",
                     "balance_before", "balance_after", "time", "operator_no"):
            assert got[name] == getattr(rec, name), name
        assert got["reserved"] == 0 and bytes(got["raw"]) == rec.encode(validate=False)


def test_reserved_bytes_are_one_column_and_batches_keep_their_ids():
    rows, rising = _staged([(5, 1, [_rec(1)]), (6, 2, [_rec(2, reserved=b"\x00\x01\x02")])])
    assert [(r[0], r[1], r[2]) for r in rows] == [(1, 5, 1), (2, 6, 2)]
    assert rows[1][9] == 0x000102 and rising  # numbers restart with each terminal's batch


@pytest.mark.parametrize("seqs, rising", [([1, 2, 3], True), ([1, 3, 3], False), ([2, 1], False), ([], True)])
def test_rising_says_whether_a_batch_may_repeat_a_number(seqs, rising):
    _, got = _staged([(1, 1, [_rec(9)]), (2, 2, [_rec(s) for s in seqs]), (3, 3, [])])
    assert got is rising


def test_a_buffer_reused_for_a_smaller_then_a_larger_group_stages_only_that_group():
    for count, first in ((30, 100), (3, 500), (40, 900)):
        rows, rising = _staged([(7, 8, [_rec(first + i, base_amount=first + i) for i in range(count)])])
        assert [(r[0], r[3], r[10]) for r in rows] == [(i + 1, first + i, first + i) for i in range(count)] and rising
