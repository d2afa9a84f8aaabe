"""Parameters in force at a terminal: surcharge rates, offline limits, the parameter version."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from ..models import Assignment, OfflineAuthorisation, SurchargeRate, Terminal

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
