"""Intake of a TXN_BATCH: store the frame and its records durably, then the gateway ACKs.

One transaction per batch, with the terminal row locked so a terminal's batches are taken in
turn. Records go in with one multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING``; the ones
that were not inserted are duplicates, and a duplicate whose bytes differ is kept as a conflict.
Checks that need no posting order (arithmetic, card, type, surcharge, assignment) are made here.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from accounts.selectors import card_types_by_number
from merchants.models import MerchantKind

from . import protocol
from .models import Assignment, Batch, LostRange, Record, SurchargeRate, Terminal
from .selectors import rate_at


@dataclass
class IntakeResult:
    batch_id: int
    ack_upto: int
    stored: int
    duplicates: int
    exceptions: int


def _assignment_at(assignments: list[Assignment], at: dt.datetime) -> Assignment | None:
    for a in assignments:
        # Record times are whole seconds; an assignment made at 12:00:00.4 covers 12:00:00.
        if a.valid_from.replace(microsecond=0) <= at and (a.valid_to is None or at < a.valid_to):
            return a
    return None


def record_problems(rec, *, card_types: dict[int, int], assignments: list[Assignment],
                    rates: list[SurchargeRate]) -> tuple[list[str], int | None]:
    """Problems found without posting order, and the merchant at the record's time."""
    problems = [f"field:{p}" for p in protocol.record_field_problems(rec)]
    at = dt.datetime.fromtimestamp(rec.time, dt.UTC)
    assignment = _assignment_at(assignments, at)
    if assignment is None:
        problems.append("not_assigned")
    host_type = card_types.get(rec.card_no)
    if host_type is None:
        problems.append("unknown_card")
    elif host_type != rec.card_type:
        problems.append("card_type_mismatch")
    if not protocol.record_arithmetic_ok(rec):
        problems.append("arithmetic")
    if rec.kind == protocol.RecordKind.PURCHASE and assignment is not None:
        rate = rate_at(at, rates)
        expected = protocol.surcharge_expected(
            rec.base_amount, rec.card_type, assignment.merchant.kind, rate.board_fee_bp,
            rate.energy_fee_bp, rate.water_multiplier_pct,
        )
        if expected != rec.surcharge:
            problems.append("surcharge")  # posted as charged; staff see it
    if rec.kind == protocol.RecordKind.DEPOSIT and assignment is not None and assignment.merchant.kind != MerchantKind.TOPUP:
        problems.append("deposit_not_topup")
    return problems, (assignment.merchant_id if assignment else None)


# A surcharge difference is reported but does not stop posting ("posted as charged").
SOFT_PROBLEMS = {"surcharge"}


def advance_ack(terminal_id: int, ack_upto: int) -> int:
    """Move ack_upto over the contiguous run of stored (or declared lost) numbers above it."""
    with connection.cursor() as cur:
        while True:
            cur.execute(
                "SELECT MAX(to_seq) FROM terminals_lostrange WHERE terminal_id = %s AND from_seq <= %s AND to_seq > %s",
                [terminal_id, ack_upto + 1, ack_upto],
            )
            lost_to = cur.fetchone()[0]
            if lost_to is not None:
                ack_upto = lost_to
                continue
            # Numbers in a contiguous run starting at ack_upto + 1 share term_seq - row_number().
            cur.execute(
                """SELECT MAX(term_seq) FROM (
                       SELECT term_seq, term_seq - ROW_NUMBER() OVER (ORDER BY term_seq) AS grp
                       FROM terminals_record WHERE terminal_id = %s AND term_seq > %s) t
                   WHERE grp = %s""",
                [terminal_id, ack_upto, ack_upto],
            )
            run_end = cur.fetchone()[0]
            if run_end is None:
                return ack_upto
            ack_upto = run_end


@transaction.atomic
def batch_intake(*, terminal_id: int, batch_no: int, msg_seq: int, raw_frame: bytes, records: list) -> IntakeResult:
    """Store a batch and its records; returns what BATCH_ACK reports. Nothing is posted here."""
    terminal = Terminal.objects.select_for_update().get(pk=terminal_id)
    batch = Batch.objects.create(terminal=terminal, batch_no=batch_no, msg_seq=msg_seq, raw=raw_frame,
                                 count=len(records))
    assignments = list(Assignment.objects.filter(terminal=terminal).select_related("merchant"))
    rates = list(SurchargeRate.objects.order_by("-effective_from"))
    card_types = card_types_by_number(card_nos={r.card_no for r in records})

    first: dict[int, object] = {}
    in_batch_dups = []
    for rec in records:  # the first of two records with the same term_seq wins; the second is a duplicate
        if rec.term_seq in first:
            in_batch_dups.append(rec)
        else:
            first[rec.term_seq] = rec
    rows, problems_by_seq = [], {}
    for rec in first.values():
        problems, merchant_id = record_problems(rec, card_types=card_types, assignments=assignments, rates=rates)
        problems_by_seq[rec.term_seq] = problems
        hard = [p for p in problems if p not in SOFT_PROBLEMS]
        rows.append("\t".join(map(str, (
            terminal.pk, rec.term_seq, batch.pk, rec.card_no, rec.card_type, rec.kind, rec.card_counter, rec.flags,
            rec.base_amount, rec.surcharge, rec.balance_before, rec.balance_after, rec.time, rec.operator_no,
            "\\\\x" + _raw(rec).hex(), Record.Status.EXCEPTION if hard else Record.Status.RECEIVED,
            _json(problems).replace("\\", "\\\\"), merchant_id if merchant_id is not None else "\\N",
        ))))
    inserted: set[int] = set()
    if rows:
        inserted = _insert_new(rows)
    exceptions = sum(1 for seq in inserted if problems_by_seq[seq])
    duplicates = [r for r in first.values() if r.term_seq not in inserted] + in_batch_dups
    if duplicates:
        stored_raw = dict(
            Record.objects.filter(terminal=terminal, term_seq__in={r.term_seq for r in duplicates}).values_list(
                "term_seq", "raw"
            )
        )
        ids = dict(
            Record.objects.filter(terminal=terminal, term_seq__in={r.term_seq for r in duplicates}).values_list(
                "term_seq", "id"
            )
        )
        from .models import RecordConflict

        conflicts = [
            RecordConflict(record_id=ids[r.term_seq], batch=batch, raw=_raw(r))
            for r in duplicates
            if bytes(stored_raw[r.term_seq]) != _raw(r)
        ]
        RecordConflict.objects.bulk_create(conflicts)
        exceptions += len(conflicts)
    ack = advance_ack(terminal.pk, terminal.ack_upto)
    Terminal.objects.filter(pk=terminal.pk).update(ack_upto=ack, last_seen_at=timezone.now())
    stored = len(inserted)
    Batch.objects.filter(pk=batch.pk).update(
        stored=stored, duplicates=len(duplicates), exceptions=exceptions,
        # A batch with nothing new to post is done at once.
        posted_at=None if stored else timezone.now(),
    )
    return IntakeResult(batch.pk, ack, stored, len(duplicates), exceptions)


@transaction.atomic
def records_lost(*, terminal_id: int, from_seq: int, to_seq: int) -> int:
    """The terminal no longer has from_seq … to_seq (0x11): mark them lost so ack_upto moves on.
    Only numbers the host lacks are marked; the range is an exception for staff."""
    terminal = Terminal.objects.select_for_update().get(pk=terminal_id)
    if from_seq < 1 or to_seq < from_seq:
        from .protocol import Nack, ProtocolError

        raise ProtocolError(Nack.MALFORMED)
    if to_seq > terminal.ack_upto:
        merchant = Assignment.objects.filter(terminal=terminal, valid_to__isnull=True).values_list(
            "merchant_id", flat=True
        ).first()
        LostRange.objects.create(terminal=terminal, from_seq=max(from_seq, terminal.ack_upto + 1), to_seq=to_seq,
                                 merchant_id=merchant)
    ack = advance_ack(terminal.pk, terminal.ack_upto)
    Terminal.objects.filter(pk=terminal.pk).update(ack_upto=ack, last_seen_at=timezone.now())
    return ack


_STAGE = """CREATE TEMP TABLE IF NOT EXISTS intake_stage (
    terminal_id bigint, term_seq bigint, batch_id bigint, card_no bigint, card_type smallint, kind smallint,
    card_counter integer, flags smallint, base_amount bigint, surcharge bigint, balance_before bigint,
    balance_after bigint, time bigint, operator_no bigint, raw bytea, status varchar(10), problems jsonb,
    merchant_id bigint) ON COMMIT DELETE ROWS"""


def _insert_new(rows: list[str]) -> set[int]:
    """COPY the batch's rows into a per-connection staging table, then insert the ones whose
    (terminal, term_seq) is new; returns their term_seq. The rest are duplicates."""
    with connection.cursor() as cur:
        cur.execute(_STAGE)
        cur.execute("DELETE FROM intake_stage")  # empty at commit; this covers several intakes in one transaction
        cur.cursor.copy_expert("COPY intake_stage FROM STDIN", io.StringIO("\n".join(rows) + "\n"))
        cur.execute(
            """INSERT INTO terminals_record (terminal_id, term_seq, batch_id, card_no, card_type, kind, card_counter,
                   flags, base_amount, surcharge, balance_before, balance_after, time, operator_no, raw, status,
                   problems, merchant_id)
               SELECT terminal_id, term_seq, batch_id, card_no, card_type, kind, card_counter, flags, base_amount,
                   surcharge, balance_before, balance_after, to_timestamp(time), operator_no, raw, status, problems,
                   merchant_id
               FROM intake_stage ORDER BY term_seq
               ON CONFLICT (terminal_id, term_seq) DO NOTHING RETURNING term_seq"""
        )
        return {r[0] for r in cur.fetchall()}


def _raw(rec) -> bytes:
    """The record's 40 bytes as received (or as encoded, for records built in code)."""
    raw = getattr(rec, "raw", None)
    return bytes(raw) if raw else rec.encode()


def _json(value) -> str:
    return json.dumps(value) if value else "[]"  # most records have nothing to say
