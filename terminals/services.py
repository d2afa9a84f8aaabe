"""Writes for the terminal registry: registration, keys, assignments, offline periods, rates."""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import BusinessError
from accounts.services import audit_write, permission_require
from merchants.models import Merchant, MerchantKind

from .models import Assignment, OfflineAuthorisation, SurchargeRate, Terminal


def _bump_params(terminal: Terminal) -> None:
    Terminal.objects.filter(pk=terminal.pk).update(params_rev=terminal.params_rev + 1)


@transaction.atomic
def terminal_add(*, actor, merchant: Merchant, kind: int | None = None, asset_no: str = "",
                 owner: str = Terminal.Owner.SCHOOL, location: str = "",
                 requisition_ref: str = "") -> tuple[Terminal, bytes]:
    """Register a terminal for a merchant. Returns the terminal and its key, shown only once."""
    permission_require(actor, "terminals.add_terminal")
    kind = kind or merchant.kind
    if kind not in MerchantKind.values:
        raise BusinessError(f"Unknown terminal kind {kind!r}.")
    if merchant.status != Merchant.Status.ACTIVE:
        raise BusinessError(f"Merchant {merchant} is not active.")
    key = secrets.token_bytes(32)
    terminal = Terminal.objects.create(kind=kind, key=key, asset_no=asset_no, owner=owner, location=location,
                                       requisition_ref=requisition_ref)
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


# --- exceptions: staff post, adjust or reject, each with a reason and an audit row ----------

def _exception_record(record_id: int):
    from .models import Record

    record = Record.objects.select_for_update().filter(pk=record_id).first()
    if record is None or record.status != Record.Status.EXCEPTION:
        raise BusinessError(_("Only a record held as an exception can be resolved."))
    return record


# Intake problems staff cannot post past: there is no card or no merchant to post to.
UNPOSTABLE = {"unknown_card", "not_assigned"}


@transaction.atomic
def record_exception_post(*, actor, record_id: int, reason: str, base_amount: int | None = None,
                          surcharge: int | None = None) -> dict:
    """Post an exception record after staff checked it, optionally with the amounts agreed with the
    merchant (adjust). The bytes received stay as they were; the audit row keeps the old amounts."""
    from .ingest.posting import records_repost

    permission_require(actor, "terminals.change_record")
    reason = (reason or "").strip()
    if not reason:
        raise BusinessError(_("A reason is required."))
    record = _exception_record(record_id)
    if blocking := UNPOSTABLE & set(record.problems):
        raise BusinessError(_("This record cannot be posted: %s.") % ", ".join(sorted(blocking)))
    before = {"base_amount": record.base_amount, "surcharge": record.surcharge}
    changes = {k: v for k, v in {"base_amount": base_amount, "surcharge": surcharge}.items() if v is not None}
    if any(not isinstance(v, int) or v < 0 for v in changes.values()):
        raise BusinessError(_("Amounts are whole fen, zero or more."))
    if changes:
        type(record).objects.filter(pk=record.pk).update(**changes)
    # What staff accept is no longer a problem; what posting finds again (money) still is.
    type(record).objects.filter(pk=record.pk).update(problems=[p for p in record.problems if p.startswith("staff:")])
    result = records_repost(record_ids=[record.pk], source=f"staff:{record.pk}", reason=reason[:200], actor=actor)
    record.refresh_from_db()
    audit_write(action="record_post" if not changes else "record_adjust", actor=actor, reason=reason,
                record=record.pk, terminal=record.terminal_id, term_seq=record.term_seq, before=before,
                after=changes, status=record.status)
    if record.status == record.Status.EXCEPTION:
        raise BusinessError(_("Posting failed again: %s.") % ", ".join(record.problems))
    return result


@transaction.atomic
def record_reject(*, actor, record_id: int, reason: str):
    """Reject an exception record: no money moves (a test swipe, a record the merchant withdrew)."""
    permission_require(actor, "terminals.change_record")
    reason = (reason or "").strip()
    if not reason:
        raise BusinessError(_("A reason is required."))
    record = _exception_record(record_id)
    type(record).objects.filter(pk=record.pk).update(status=record.Status.REJECTED)
    audit_write(action="record_reject", actor=actor, reason=reason, record=record.pk, terminal=record.terminal_id,
                term_seq=record.term_seq, problems=record.problems)
    return record


@transaction.atomic
def cardflag_resolve(*, actor, flag_id: int, resolution: str):
    """Close a card-vs-account flag (卡库不平) with what staff found; money is corrected, if at all,
    through accounts' adjustment services, never here."""
    from .models import CardFlag

    permission_require(actor, "terminals.change_cardflag")
    resolution = (resolution or "").strip()
    if not resolution:
        raise BusinessError(_("A reason is required."))
    flag = CardFlag.objects.select_for_update().get(pk=flag_id)
    if flag.resolved_at is not None:
        raise BusinessError(_("This flag is already resolved."))
    CardFlag.objects.filter(pk=flag.pk).update(resolved_at=timezone.now(), resolved_by=actor,
                                               resolution=resolution[:200])
    audit_write(action="cardflag_resolve", actor=actor, reason=resolution, card_no=flag.card_no, flag=flag.pk,
                kind=flag.kind)
    return flag


@transaction.atomic
def lostrange_resolve(*, actor, lost_id: int, reason: str):
    """Staff have dealt with records a terminal declared lost (with the merchant, on paper)."""
    from .models import LostRange

    permission_require(actor, "terminals.change_lostrange")
    reason = (reason or "").strip()
    if not reason:
        raise BusinessError(_("A reason is required."))
    lost = LostRange.objects.select_for_update().get(pk=lost_id)
    if lost.resolved_at is not None:
        raise BusinessError(_("Already resolved."))
    LostRange.objects.filter(pk=lost.pk).update(resolved_at=timezone.now())
    audit_write(action="lostrange_resolve", actor=actor, reason=reason, terminal=lost.terminal_id,
                from_seq=lost.from_seq, to_seq=lost.to_seq)
    return lost


def record_days_summarise() -> None:
    """Summarise the record table's new block ranges in its business-day BRIN index, so reads of a
    closed day skip the rest of the table even where autovacuum (autosummarize) is off."""
    with connection.cursor() as cur:
        cur.execute("SELECT brin_summarize_new_values('record_business_day_brin')")
