"""What an approved merchant form does to terminals (merchants cannot import terminals, so it
sends merchants.signals and this module, loaded by TerminalsConfig.ready, answers); and the
card-vs-account flags that refuse an unfreeze (accounts.signals.card_unfreeze_validate, R-FREEZE-1).

Terminal changes are made in the name of the card-centre member who approved the form: the
centre hands out, authorises and takes back terminals (U§6, U§17, U§24)."""

from __future__ import annotations

import datetime as dt

from django.dispatch import receiver
from django.utils.translation import ngettext

from accounts.errors import BusinessError
from accounts.signals import card_unfreeze_validate
from merchants.models import ApplicationKind as K
from merchants.models import ApproverRole
from merchants.signals import application_approved, application_validate

from . import services
from .models import Assignment, Terminal


def _terminal_of(merchant, terminal_id) -> Terminal:
    assignment = (Assignment.objects.select_related("terminal")
                  .filter(terminal_id=terminal_id, merchant=merchant, valid_to__isnull=True).first())
    if assignment is None:
        raise BusinessError(f"Terminal {terminal_id} does not serve merchant {merchant.code}.")
    return assignment.terminal


@receiver(card_unfreeze_validate, dispatch_uid="terminals_card_unfreeze_validate")
def unfreeze_check(sender, *, card, **_):
    """R-FREEZE-1: a card is unfrozen only after its card-vs-account differences are resolved."""
    from .models import CardFlag

    open_flags = CardFlag.objects.filter(card_no=card.card_no, resolved_at__isnull=True).count()
    if open_flags:
        raise BusinessError(ngettext(
            "Card %(card_no)s has %(n)d open card-vs-account flag; resolve it before unfreezing (R-FREEZE-1).",
            "Card %(card_no)s has %(n)d open card-vs-account flags; resolve them before unfreezing (R-FREEZE-1).",
            open_flags) % {"card_no": card.card_no, "n": open_flags})


@receiver(application_validate, dispatch_uid="terminals_application_validate")
def application_check(sender, *, application, merchant, **_):
    if application.kind not in (K.OFFLINE, K.FAULT):
        return
    terminal = _terminal_of(merchant, application.payload["terminal_id"])
    if terminal.status == Terminal.Status.RETIRED:
        raise BusinessError(f"{terminal} is retired.")
    if application.kind == K.OFFLINE and terminal.status != Terminal.Status.ACTIVE:
        raise BusinessError(f"{terminal} is {terminal.get_status_display()}; only an active terminal runs offline.")


def _centre(application):
    actor = application.approver_for(ApproverRole.CENTRE)
    if actor is None:  # every chain that touches terminals has a centre step
        raise BusinessError("No card-centre approval on this form.")
    return actor


def _device(application) -> dict:
    """U§6 requisition: register the terminals; internal merchants get school assets, external
    ones own (and pay for) theirs (R-MER-2, U§7). Keys are returned once, to show to staff."""
    merchant, payload = application.merchant, application.payload
    owner = Terminal.Owner.SCHOOL if merchant.internal else Terminal.Owner.MERCHANT
    made = []
    for _ in range(payload["count"]):
        terminal, key = services.terminal_add(actor=_centre(application), merchant=merchant,
                                              kind=payload.get("kind") or merchant.kind, owner=owner,
                                              location=payload.get("location", "") or merchant.location,
                                              requisition_ref=application.reference)  # the form it came on
        made.append((terminal.pk, key.hex()))
    return {"terminals": made}


def _offline(application) -> dict:
    payload = application.payload
    terminal = _terminal_of(application.merchant, payload["terminal_id"])
    auth = services.offline_authorise(actor=_centre(application), terminal=terminal,
                                      valid_from=dt.datetime.fromisoformat(payload["valid_from"]),
                                      valid_to=dt.datetime.fromisoformat(payload["valid_to"]),
                                      reason=f"{application.reference} {payload['reason']}"[:200])
    return {"offline_authorisation": auth.pk}


def _stop_terminals(application) -> dict:
    """Cancellation or revocation: every terminal serving the merchant stops (disabled; the
    gateway answers NACK 4)."""
    stopped = []
    terminals = Terminal.objects.filter(assignments__merchant=application.merchant, assignments__valid_to__isnull=True,
                                        status=Terminal.Status.ACTIVE).order_by("pk")
    for terminal in terminals:
        services.terminal_set_status(actor=_centre(application), terminal=terminal, status=Terminal.Status.DISABLED,
                                     reason=f"{application.reference} {application.payload.get('reason', '')}"[:200])
        stopped.append(terminal.pk)
    return {"disabled": stopped}


def _fault(application) -> dict | None:
    payload = application.payload
    if not payload.get("take_out_of_service"):
        return None
    terminal = _terminal_of(application.merchant, payload["terminal_id"])
    if terminal.status != Terminal.Status.ACTIVE:
        return None
    services.terminal_set_status(actor=_centre(application), terminal=terminal, status=Terminal.Status.DISABLED,
                                 reason=f"{application.reference} {payload['description']}"[:200])
    return {"disabled": [terminal.pk]}


HANDLERS = {K.DEVICE: _device, K.OFFLINE: _offline, K.CANCEL: _stop_terminals, K.REVOKE: _stop_terminals,
            K.FAULT: _fault}


@receiver(application_approved, dispatch_uid="terminals_application_approved")
def application_carry_out(sender, *, application, **_):
    handler = HANDLERS.get(application.kind)
    return handler(application) if handler else None
