"""Writes for the terminal registry: registration, keys, assignments, offline periods, rates."""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import transaction
from django.utils import timezone

from accounts.errors import BusinessError
from accounts.services import audit_write, permission_require
from merchants.models import Merchant, MerchantKind

from .models import Assignment, OfflineAuthorisation, SurchargeRate, Terminal


def _bump_params(terminal: Terminal) -> None:
    Terminal.objects.filter(pk=terminal.pk).update(params_rev=terminal.params_rev + 1)


@transaction.atomic
def terminal_add(*, actor, merchant: Merchant, kind: int | None = None, asset_no: str = "",
                 owner: str = Terminal.Owner.SCHOOL, location: str = "") -> tuple[Terminal, bytes]:
    """Register a terminal for a merchant. Returns the terminal and its key, shown only once."""
    permission_require(actor, "terminals.add_terminal")
    kind = kind or merchant.kind
    if kind not in MerchantKind.values:
        raise BusinessError(f"Unknown terminal kind {kind!r}.")
    if merchant.status != Merchant.Status.ACTIVE:
        raise BusinessError(f"Merchant {merchant} is not active.")
    key = secrets.token_bytes(32)
    terminal = Terminal.objects.create(kind=kind, key=key, asset_no=asset_no, owner=owner, location=location)
    Assignment.objects.create(terminal=terminal, merchant=merchant, valid_from=timezone.now())
    audit_write(action="terminal_add", actor=actor, terminal=terminal.pk, merchant=merchant.code)
    return terminal, key


@transaction.atomic
def terminal_key_rotate(*, actor, terminal: Terminal) -> bytes:
    """A new key; the old one stops working at once (the terminal is re-keyed by staff)."""
    permission_require(actor, "terminals.change_terminal")
    key = secrets.token_bytes(32)
    Terminal.objects.filter(pk=terminal.pk).update(key=key, key_rotated_at=timezone.now())
    audit_write(action="terminal_key_rotate", actor=actor, terminal=terminal.pk)
    return key


@transaction.atomic
def terminal_assign(*, actor, terminal: Terminal, merchant: Merchant, at: dt.datetime | None = None) -> Assignment:
    """Move a terminal to another merchant from `at` on (R-TERM-1)."""
    permission_require(actor, "terminals.change_terminal")
    at = at or timezone.now()
    terminal = Terminal.objects.select_for_update().get(pk=terminal.pk)
    current = terminal.assignments.filter(valid_to__isnull=True).first()
    if current:
        if current.merchant_id == merchant.pk:
            raise BusinessError(f"{terminal} already serves {merchant}.")
        if at <= current.valid_from:
            raise BusinessError("The new assignment must start after the current one.")
        current.valid_to = at
        current.save(update_fields=["valid_to"])
    assignment = Assignment.objects.create(terminal=terminal, merchant=merchant, valid_from=at)
    _bump_params(terminal)
    audit_write(action="terminal_assign", actor=actor, terminal=terminal.pk, merchant=merchant.code, at=at.isoformat())
    return assignment


@transaction.atomic
def terminal_set_status(*, actor, terminal: Terminal, status: str, reason: str) -> Terminal:
    permission_require(actor, "terminals.change_terminal")
    if status not in Terminal.Status.values:
        raise BusinessError(f"Unknown status {status!r}.")
    terminal = Terminal.objects.select_for_update().get(pk=terminal.pk)
    if terminal.status == Terminal.Status.RETIRED:
        raise BusinessError(f"{terminal} is retired.")
    old, terminal.status = terminal.status, status
    terminal.save(update_fields=["status"])
    if status == Terminal.Status.RETIRED:
        terminal.assignments.filter(valid_to__isnull=True).update(valid_to=timezone.now())
    audit_write(action="terminal_status", actor=actor, reason=reason, terminal=terminal.pk, old=old, new=status)
    return terminal


@transaction.atomic
def offline_authorise(*, actor, terminal: Terminal, valid_from: dt.datetime, valid_to: dt.datetime,
                      reason: str) -> OfflineAuthorisation:
    """Authorise offline operation for a period (R-TERM-2, U§17)."""
    permission_require(actor, "terminals.add_offlineauthorisation")
    if not reason.strip():
        raise BusinessError("A reason is required.")
    if valid_to <= valid_from:
        raise BusinessError("The period must end after it starts.")
    auth = OfflineAuthorisation.objects.create(terminal=terminal, valid_from=valid_from, valid_to=valid_to,
                                               reason=reason, actor=actor)
    _bump_params(Terminal.objects.get(pk=terminal.pk))
    audit_write(action="offline_authorise", actor=actor, reason=reason, terminal=terminal.pk,
                valid_from=valid_from.isoformat(), valid_to=valid_to.isoformat())
    return auth


@transaction.atomic
def surcharge_rate_add(*, actor, effective_from: dt.datetime, board_fee_bp: int, energy_fee_bp: int,
                       water_multiplier_pct: int) -> SurchargeRate:
    """New surcharge rates from a date on (R-SUR-1, R-SUR-2): data, never constants in code."""
    permission_require(actor, "terminals.add_surchargerate")
    if min(board_fee_bp, energy_fee_bp) < 0 or board_fee_bp + energy_fee_bp > 10000:
        raise BusinessError("Fees are basis points between 0 and 10000.")
    if not 100 <= water_multiplier_pct <= 1000:
        raise BusinessError("The water price is between 100% and 1000% of the formal price.")
    rate = SurchargeRate.objects.create(effective_from=effective_from, board_fee_bp=board_fee_bp,
                                        energy_fee_bp=energy_fee_bp, water_multiplier_pct=water_multiplier_pct)
    audit_write(action="surcharge_rate_add", actor=actor, effective_from=effective_from.isoformat(),
                board_fee_bp=board_fee_bp, energy_fee_bp=energy_fee_bp, water_multiplier_pct=water_multiplier_pct)
    return rate
