"""Writes for merchants, their users and their forms (U§5–§24, M§37).

A form (Application) gets its approval steps from CHAINS when it is submitted; each step is
decided by someone holding the step's role. The final approval changes the merchant here and
tells the layers above through merchants.signals.application_approved (terminals connects it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import contextmanager

from django.db import connection, transaction
from django.utils import timezone

from accounts.errors import BusinessError, NotAllowed
from accounts.models import LedgerAccount, Unit
from accounts.services import audit_write, ledger_account_create, permission_require

from .forms import CHANGE_FIELDS, FINANCE_FIELDS, payload_clean
from .models import (
    PAYOUT_FIELDS,
    Application,
    ApplicationKind,
    ApprovalStep,
    ApproverRole,
    Merchant,
    MerchantKind,
    MerchantUser,
    UnitApprover,
)
from .setup import CENTRE_GROUP, FINANCE_GROUP, UNIT_APPROVER_GROUP, merchant_group, unit_approver_group
from .signals import application_approved, application_validate

K, R, S = ApplicationKind, ApproverRole, Merchant.Status


def _touches_money(payload: dict) -> bool:
    return any(f in payload for f in FINANCE_FIELDS)


# --- the rules of each form, in one table -------------------------------------------------------
# chain: the approval steps in order, (role, condition on the payload or None).
# statuses: the merchant statuses in which the form may be submitted and approved.
# submitters: the merchant-user roles that may submit it for their own merchant (staff with
# merchants.submit_application may enter any paper form; a revocation only with revoke_merchant).
# single: at most one open form of the kind per merchant.
FormRule = dict
CHAINS: dict[str, FormRule] = {
    # U§5: managing unit, then the centre; M§37: setting up also needs finance.
    K.ACCESS: dict(chain=[(R.UNIT, None), (R.CENTRE, None), (R.FINANCE, None)], statuses={S.PENDING},
                   submitters={MerchantUser.Role.CONTACT}, single=True),
    # U§6: managing unit, then the centre.
    K.DEVICE: dict(chain=[(R.UNIT, None), (R.CENTRE, None)], statuses={S.ACTIVE},
                   submitters={MerchantUser.Role.CONTACT}, single=False),
    # U§13: the centre; a new bank account or settlement period is agreed with finance (M§42, R-SET-1).
    K.CHANGE: dict(chain=[(R.CENTRE, None), (R.FINANCE, _touches_money)], statuses={S.ACTIVE, S.SUSPENDED},
                   submitters={MerchantUser.Role.CONTACT}, single=True),
    # U§15 the centre; M§37: revoking a merchant is applied for by its unit and approved by finance too.
    K.CANCEL: dict(chain=[(R.UNIT, None), (R.CENTRE, None), (R.FINANCE, None)], statuses={S.ACTIVE, S.SUSPENDED},
                   submitters={MerchantUser.Role.CONTACT}, single=True),
    # U§16: any fault is reported to the centre, which confirms it (R-TERM-4).
    K.FAULT: dict(chain=[(R.CENTRE, None)], statuses={S.ACTIVE, S.SUSPENDED},
                  submitters={MerchantUser.Role.CONTACT, MerchantUser.Role.CASHIER}, single=False),
    # U§17: offline only under the centre's authorisation (R-TERM-2).
    K.OFFLINE: dict(chain=[(R.CENTRE, None)], statuses={S.ACTIVE},
                    submitters={MerchantUser.Role.CONTACT}, single=False),
    # U§24 the centre withdraws access; M§37: revocation is approved by finance as well. The centre
    # person who starts it cannot approve it: a second member of the centre does.
    K.REVOKE: dict(chain=[(R.CENTRE, None), (R.FINANCE, None)], statuses={S.ACTIVE, S.SUSPENDED},
                   submitters=set(), single=True),
}

# What the final approval does to the merchant itself; terminals follow through the signal.
STATUS_AFTER: dict[str, str] = {K.ACCESS: S.ACTIVE, K.CANCEL: S.CLOSED, K.REVOKE: S.REVOKED}


def approval_chain(kind: str, payload: dict) -> list[str]:
    return [role for role, when in CHAINS[kind]["chain"] if when is None or when(payload)]


# --- roles --------------------------------------------------------------------------------------

def _in_group(user, name: str) -> bool:
    return user.groups.filter(name=name).exists()


ROLE_CHECKS: dict[str, Callable] = {
    # A managing unit's officer, for the merchants of that unit only.
    R.UNIT: lambda user, merchant: (merchant.unit_id is not None and _in_group(user, UNIT_APPROVER_GROUP)
                                    and UnitApprover.objects.filter(user=user, unit_id=merchant.unit_id).exists()),
    R.CENTRE: lambda user, merchant: _in_group(user, CENTRE_GROUP),
    R.FINANCE: lambda user, merchant: _in_group(user, FINANCE_GROUP),
}


def actor_has_role(*, actor, role: str, merchant: Merchant) -> bool:
    if actor is None or not actor.is_active:
        return False
    return actor.is_superuser or ROLE_CHECKS[role](actor, merchant)


# --- merchants ----------------------------------------------------------------------------------

MERCHANT_FIELDS = ("unit", "settlement_months", "bank_name", "bank_account_name", "bank_account_no", "location")


def _validate_fields(fields: dict) -> None:
    unknown = set(fields) - set(MERCHANT_FIELDS) - {"name", "kind", "internal"}
    if unknown:
        raise BusinessError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    months = fields.get("settlement_months")
    if months is not None and (isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 12):
        raise BusinessError("The settlement period is 1 to 12 months.")
    unit = fields.get("unit")
    if unit is not None and not isinstance(unit, Unit):
        raise BusinessError("The managing unit must be a unit.")
    number = fields.get("bank_account_no")
    if number and not re.fullmatch(r"[0-9]{8,30}", str(number)):  # ASCII digits: isdigit() takes '²'
        raise BusinessError("A bank account number is 8 to 30 digits.")


@transaction.atomic
def merchant_create(*, actor, code: str, name: str, kind: int, internal: bool = True,
                    status: str = Merchant.Status.ACTIVE, **fields) -> Merchant:
    """Register a merchant. Default ACTIVE: for merchants whose forms were approved on paper
    before the system; new ones come through merchant_apply and start PENDING."""
    permission_require(actor, "merchants.add_merchant")

    code, name = (code or "").strip(), (name or "").strip()
    if not code or not name:
        raise BusinessError("A merchant needs a code and a name.")
    if kind not in MerchantKind.values:
        raise BusinessError(f"Unknown merchant kind {kind!r}.")
    if status not in (Merchant.Status.ACTIVE, Merchant.Status.PENDING):
        raise BusinessError("A new merchant is active or pending.")
    _validate_fields(fields)
    if Merchant.objects.filter(code=code).exists():
        raise BusinessError(f"Merchant {code} already exists.")
    account = ledger_account_create(kind=LedgerAccount.Kind.MERCHANT, code=f"MER-{code}", name=f"应付商户 {name}")
    merchant = Merchant.objects.create(code=code, name=name, kind=kind, internal=internal, payable_account=account,
                                       status=status, status_changed_at=timezone.now(), **fields)
    audit_write(action="merchant_create", actor=actor, merchant=code, kind=kind, status=status)
    return merchant


@transaction.atomic
def merchant_update(*, actor, merchant: Merchant, reason: str = "", **fields) -> Merchant:
    """Staff correct a merchant's record (not its status, nor where it is paid: those change only
    through the forms)."""
    permission_require(actor, "merchants.change_merchant")
    _validate_fields(fields)
    if "kind" in fields and fields["kind"] not in MerchantKind.values:
        raise BusinessError(f"Unknown merchant kind {fields['kind']!r}.")
    if "name" in fields and not (fields["name"] or "").strip():
        raise BusinessError("A merchant needs a name.")
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    redirected = sorted(f for f in PAYOUT_FIELDS if f in fields and fields[f] != getattr(merchant, f))
    if redirected:
        raise NotAllowed(f"A merchant's bank account and payee change only through an approved business change "
                         f"form (U§13, M§42), not by editing the record: {', '.join(redirected)}.")
    changed = {}
    for field, value in fields.items():
        old = getattr(merchant, field)
        if old != value:
            changed[field] = [_plain(old), _plain(value)]
            setattr(merchant, field, value)
    if changed:
        merchant.save(update_fields=list(changed))
        audit_write(action="merchant_update", actor=actor, reason=reason, merchant=merchant.code,
                    changed=_mask_changes(changed))
    return merchant


def _plain(value):
    return value.pk if isinstance(value, Unit) else value


def _mask_changes(changed: dict) -> dict:
    # The audit log is read widely: it keeps only the last digits of an account number.
    from .models import mask_account_no

    if "bank_account_no" in changed:
        changed = {**changed, "bank_account_no": [mask_account_no(v or "") for v in changed["bank_account_no"]]}
    return changed


def _set_status(merchant: Merchant, new: str, *, actor, reason: str, application: Application | None = None) -> None:
    old = merchant.status
    merchant.status, merchant.status_changed_at = new, timezone.now()
    merchant.save(update_fields=["status", "status_changed_at"])
    audit_write(action="merchant_status", actor=actor, reason=reason, merchant=merchant.code, old=old, new=new,
                application=application.pk if application else None)


@transaction.atomic
def merchant_apply(*, actor, code: str, name: str, kind: int, unit: Unit, contact, internal: bool = True,
                   contact_phone: str = "", payload: dict | None = None, **fields) -> Application:
    """A new merchant from its access form (U§5, R-MER-1): the merchant is PENDING and takes no
    cards until the form is approved; the form names the settlement contact (M§37)."""
    if unit is None:
        raise BusinessError("An access application names the managing unit.")
    merchant = merchant_create(actor=actor, code=code, name=name, kind=kind, internal=internal,
                               status=Merchant.Status.PENDING, unit=unit, **fields)
    merchant_user_add(actor=actor, merchant=merchant, user=contact, role=MerchantUser.Role.CONTACT, phone=contact_phone)
    return application_submit(actor=actor, merchant=merchant, kind=K.ACCESS, payload=payload or {})


# --- merchant users and unit approvers ----------------------------------------------------------

@transaction.atomic
def merchant_user_add(*, actor, merchant: Merchant, user, role: str = MerchantUser.Role.CASHIER,
                      phone: str = "") -> MerchantUser:
    """Link a login to one merchant; it joins the merchant users' group (portal permissions)."""
    permission_require(actor, "merchants.add_merchantuser")
    if role not in MerchantUser.Role.values:
        raise BusinessError(f"Unknown merchant user role {role!r}.")
    if user is None or user.is_superuser or user.is_staff:
        raise BusinessError("A merchant user is an ordinary login, not a staff account.")
    if merchant.status in (S.REVOKED, S.CLOSED):
        raise BusinessError(f"Merchant {merchant} is {merchant.get_status_display()}.")
    existing = MerchantUser.objects.select_for_update().filter(user=user).first()
    if existing and existing.active and existing.merchant_id != merchant.pk:
        raise BusinessError(f"{user} already belongs to merchant {existing.merchant.code}.")
    if role == MerchantUser.Role.CONTACT and MerchantUser.objects.filter(
            merchant=merchant, role=role, active=True).exclude(user=user).exists():
        raise BusinessError(f"Merchant {merchant.code} already has a settlement contact; remove it first.")
    if existing:
        existing.merchant, existing.role, existing.phone, existing.active = merchant, role, phone, True
        existing.save(update_fields=["merchant", "role", "phone", "active"])
        link = existing
    else:
        link = MerchantUser.objects.create(user=user, merchant=merchant, role=role, phone=phone)
    user.groups.add(merchant_group())
    audit_write(action="merchant_user_add", actor=actor, merchant=merchant.code, user=user.pk, role=role)
    return link


@transaction.atomic
def merchant_user_remove(*, actor, link: MerchantUser, reason: str = "") -> MerchantUser:
    permission_require(actor, "merchants.change_merchantuser")
    link = MerchantUser.objects.select_for_update().get(pk=link.pk)
    if not link.active:
        raise BusinessError(f"{link.user} is already removed.")
    link.active = False
    link.save(update_fields=["active"])
    link.user.groups.remove(merchant_group())
    audit_write(action="merchant_user_remove", actor=actor, reason=reason, merchant=link.merchant.code,
                user=link.user_id)
    return link


@transaction.atomic
def unit_approver_add(*, actor, unit: Unit, user) -> UnitApprover:
    permission_require(actor, "merchants.add_unitapprover")
    if MerchantUser.objects.filter(user=user, active=True).exists():
        raise BusinessError("A merchant's own user cannot approve for its managing unit.")
    approver, created = UnitApprover.objects.get_or_create(unit=unit, user=user)
    if not created:
        raise BusinessError(f"{user} already approves for {unit}.")
    user.groups.add(unit_approver_group())
    audit_write(action="unit_approver_add", actor=actor, unit=unit.code, user=user.pk)
    return approver


# --- applications -------------------------------------------------------------------------------

def _may_submit(actor, merchant: Merchant, kind: str) -> bool:
    if actor is None or not actor.is_active:
        return False
    if kind == K.REVOKE:
        return actor.has_perm("merchants.revoke_merchant")
    if actor.has_perm("merchants.submit_application") and (actor.is_staff or actor.is_superuser):
        return True  # staff entering a paper form
    link = MerchantUser.objects.filter(user=actor, merchant=merchant, active=True).first()
    return link is not None and link.role in CHAINS[kind]["submitters"] and actor.has_perm("merchants.submit_application")


@transaction.atomic
def application_submit(*, actor, merchant: Merchant, kind: str, payload: dict | None = None) -> Application:
    if kind not in CHAINS:
        raise BusinessError(f"Unknown form {kind!r}.")
    rule = CHAINS[kind]
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    if not _may_submit(actor, merchant, kind):
        raise NotAllowed("You may not submit this form for this merchant.")
    cleaned, errors = payload_clean(kind, payload or {})
    if cleaned is None:
        raise BusinessError([f"{field}: {'; '.join(msgs)}" for field, msgs in errors.items()])
    if merchant.status not in rule["statuses"]:
        raise BusinessError(f"Merchant {merchant.code} is {merchant.get_status_display()}: "
                            f"this form cannot be submitted now.")
    if rule["single"] and merchant.applications.filter(kind=kind, status=Application.Status.PENDING).exists():
        raise BusinessError(f"Merchant {merchant.code} already has an open form of this kind.")
    if kind == K.ACCESS:
        # R-MER-1: the form comes through a managing unit and names the settlement contact.
        if merchant.unit_id is None:
            raise BusinessError("An access application names the managing unit.")
        if merchant.settlement_contact is None:
            raise BusinessError("An access application names the settlement contact (a merchant user).")
    if kind == K.CHANGE and not (set(cleaned) & set(CHANGE_FIELDS)) and not cleaned.get("description"):
        raise BusinessError("Describe the change.")
    application = Application(kind=kind, merchant=merchant, submitted_by=actor, payload=cleaned)
    application_validate.send(sender=Application, application=application, merchant=merchant)
    application.save()
    roles = approval_chain(kind, cleaned)
    ApprovalStep.objects.bulk_create(ApprovalStep(application=application, seq=i, role=role) for i, role in enumerate(roles))
    audit_write(action="application_submit", actor=actor, merchant=merchant.code, application=application.pk,
                kind=kind, chain=roles)
    return application


@transaction.atomic
def application_decide(*, actor, application: Application, approve: bool, comment: str = "") -> Application:
    """Decide the current step. A rejection ends the form; the last approval carries it out.
    On return, application.outcome holds what the receivers returned (new terminal keys…)."""
    merchant = Merchant.objects.select_for_update().get(pk=application.merchant_id)
    application = Application.objects.select_for_update().get(pk=application.pk)
    application.merchant = merchant
    comment = (comment or "").strip()
    if application.status != Application.Status.PENDING:
        raise BusinessError(f"Form {application.reference} is already {application.get_status_display()}.")
    step = application.steps.get(seq=application.step)
    if not actor_has_role(actor=actor, role=step.role, merchant=merchant):
        raise NotAllowed(f"This step needs the role {step.get_role_display()}.")
    # Four eyes: nobody approves what they asked for, nor signs two boxes of one form.
    if actor.pk == application.submitted_by_id:
        raise NotAllowed("You submitted this form; someone else must decide it.")
    if application.steps.filter(approver=actor).exists():
        raise NotAllowed("You already decided a step of this form.")
    if not approve and not comment:
        raise BusinessError("A rejection needs a reason.")
    last = not application.steps.filter(seq__gt=step.seq).exists()
    if approve and last and merchant.status not in CHAINS[application.kind]["statuses"]:
        raise BusinessError(f"Merchant {merchant.code} is {merchant.get_status_display()}: reject this form.")

    now = timezone.now()
    step.approver, step.decision, step.comment, step.at = (
        actor, ApprovalStep.Decision.APPROVE if approve else ApprovalStep.Decision.REJECT, comment[:500], now)
    step.save(update_fields=["approver", "decision", "comment", "at"])
    application.outcome = []
    if not approve:
        application.status, application.decided_at = Application.Status.REJECTED, now
        application.save(update_fields=["status", "decided_at"])
    elif not last:
        application.step = step.seq + 1
        application.save(update_fields=["step"])
    else:
        application.status, application.decided_at = Application.Status.APPROVED, now
        application.save(update_fields=["status", "decided_at"])
        _carry_out(application, actor=actor)
    audit_write(action="application_decide", actor=actor, reason=comment, merchant=merchant.code,
                application=application.pk, kind=application.kind, step=step.seq, role=step.role,
                decision=step.decision, status=application.status)
    if application.status == Application.Status.APPROVED:
        responses = application_approved.send(sender=Application, application=application)
        application.outcome = [r for _, r in responses if r is not None]
    return application


@contextmanager
def _payout_change_by(application: Application):
    """Name the approved form to the database's payout guard (migration 0003) for this write: the
    trigger lets the bank fields change only to what that approved change form of this merchant says."""
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('campuscard.payout_change', %s, true)", [str(application.pk)])
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT set_config('campuscard.payout_change', '', true)")


def _carry_out(application: Application, *, actor) -> None:
    """What the final approval changes on the merchant (terminals follow through the signal)."""
    merchant, payload = application.merchant, application.payload
    new_status = STATUS_AFTER.get(application.kind)
    if new_status:
        _set_status(merchant, new_status, actor=actor, reason=payload.get("reason", ""), application=application)
    if application.kind == K.CHANGE:
        changed = {}
        for field in CHANGE_FIELDS:
            if field in payload and getattr(merchant, field) != payload[field]:
                changed[field] = [getattr(merchant, field), payload[field]]
                setattr(merchant, field, payload[field])
        if changed:
            with _payout_change_by(application):
                merchant.save(update_fields=list(changed))
            audit_write(action="merchant_update", actor=actor, reason=payload.get("description", ""),
                        merchant=merchant.code, application=application.pk, changed=_mask_changes(changed))

