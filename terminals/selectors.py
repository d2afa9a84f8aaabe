"""Reads for terminals: parameters in force, offline periods, acknowledgement state."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from .models import Assignment, OfflineAuthorisation, SurchargeRate, Terminal

DEFAULT_RATE = SurchargeRate(board_fee_bp=0, energy_fee_bp=0, water_multiplier_pct=100)


def rate_at(at: dt.datetime, rates: list[SurchargeRate] | None = None) -> SurchargeRate:
    """The surcharge rates in force at `at`."""
    if rates is None:
        rates = list(SurchargeRate.objects.filter(effective_from__lte=at).order_by("-effective_from")[:1])
    for rate in rates:  # newest first
        if rate.effective_from <= at:
            return rate
    return DEFAULT_RATE


def offline_until(terminal: Terminal, at: dt.datetime | None = None) -> int:
    """End (Unix time) of the offline authorisation covering `at`, or 0 (R-TERM-2)."""
    at = at or timezone.now()
    auth = (
        OfflineAuthorisation.objects.filter(terminal=terminal, valid_from__lte=at, valid_to__gt=at)
        .order_by("-valid_to")
        .first()
    )
    return int(auth.valid_to.timestamp()) if auth else 0


def params_version(terminal: Terminal, at: dt.datetime | None = None) -> int:
    """Rises whenever anything in the terminal's PARAMS changes: its own revision (assignments,
    limits, offline periods) plus the number of rate rows that have taken effect."""
    at = at or timezone.now()
    return terminal.params_rev + SurchargeRate.objects.filter(effective_from__lte=at).count()


@dataclass(frozen=True)
class Params:
    params_version: int
    merchant_kind: int
    board_fee_bp: int
    energy_fee_bp: int
    water_multiplier_pct: int
    max_single: int
    max_offline_daily: int
    offline_until: int
    min_interval_s: int


def terminal_params(terminal: Terminal, at: dt.datetime | None = None) -> Params:
    at = at or timezone.now()
    rate = rate_at(at)
    assignment = Assignment.objects.filter(terminal=terminal, valid_to__isnull=True).select_related("merchant").first()
    kind = assignment.merchant.kind if assignment else terminal.kind
    return Params(
        params_version=params_version(terminal, at), merchant_kind=kind,
        board_fee_bp=rate.board_fee_bp, energy_fee_bp=rate.energy_fee_bp,
        water_multiplier_pct=rate.water_multiplier_pct, max_single=terminal.max_single,
        max_offline_daily=terminal.max_offline_daily, offline_until=offline_until(terminal, at),
        min_interval_s=terminal.min_interval_s,
    )


def recollect_for(terminal_id: int, ack_upto: int, last_seq: int) -> tuple[int, int]:
    """The first run of numbers above ack_upto the host lacks (POS-PROTOCOL 0x81)."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT LEAST(
                   (SELECT MIN(term_seq) FROM terminals_record WHERE terminal_id = %s AND term_seq > %s),
                   (SELECT MIN(from_seq) FROM terminals_lostrange WHERE terminal_id = %s AND to_seq > %s))""",
            [terminal_id, ack_upto, terminal_id, ack_upto],
        )
        next_stored = cur.fetchone()[0]
    if next_stored is not None and next_stored > ack_upto + 1:
        return ack_upto + 1, next_stored - 1
    if next_stored is None and last_seq > ack_upto:
        return ack_upto + 1, last_seq
    return 0, 0


def unposted_batch_ids(*, older_than_s: int = 30, limit: int = 1000) -> list[int]:
    from .models import Batch

    cutoff = timezone.now() - dt.timedelta(seconds=older_than_s)
    return list(
        Batch.objects.filter(posted_at__isnull=True, received_at__lt=cutoff).order_by("id").values_list("id", flat=True)[
            :limit
        ]
    )
