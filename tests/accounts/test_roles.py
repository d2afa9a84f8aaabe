"""Roles of RULES.md as permission groups, enforced by the services; every staff action is
audited with who and why in the same transaction as the change (M§46)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from accounts import services
from accounts.errors import BusinessError, InsufficientFunds, NotAllowed
from accounts.models import AuditLog, CardType, FeeSchedule, LedgerAccount
from accounts.setup import ROLE_NAMES, ROLES, reference_data_ensure, role_group
from tests.accounts.helpers import (
    adjust,
    consumption_card,
    fast_password_hashing,  # noqa: F401
    formal_card,
    fund,
    snapshot,
    unit_agent,
)
from tests.factories import HolderFactory, UnitFactory

pytestmark = pytest.mark.django_db

CARD_CENTRE = {"issue_card", "import_batch", "report_loss", "freeze_card", "replace_card", "extend_card"}
FINANCE = {"close_account", "adjust_account"}


def _codenames(group: Group, app: str = "accounts") -> set[str]:
    return set(group.permissions.filter(content_type__app_label=app).values_list("codename", flat=True))


# --- groups ------------------------------------------------------------------------------------------

def test_every_role_has_a_group_with_its_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLE_NAMES.values())
    assert role_group("super_admin").permissions.count() == Permission.objects.count()
    card_centre, finance = role_group("card_centre"), role_group("finance")
    assert CARD_CENTRE <= _codenames(card_centre) and not FINANCE & _codenames(card_centre)
    assert FINANCE <= _codenames(finance) and not CARD_CENTRE & _codenames(finance)
    # The cashier finds the holder at the desk and takes cash there (and reads their own report).
    assert _codenames(role_group("cash_operator")) == {"view_card", "view_cardholder", "deposit_cash"}
    # Merchant users get only their portal's permissions (merchants/setup.py), nothing of accounts.
    assert not _codenames(role_group("merchant_user"), "accounts")
    assert not _codenames(role_group("merchant_user"), "terminals")
    assert _codenames(role_group("unit_agent")) >= {"import_batch"} and "issue_card" not in _codenames(
        role_group("unit_agent"))
    # Merchant and terminal records belong to the card centre (M§2).
    assert _codenames(card_centre, "terminals") and _codenames(card_centre, "merchants")
    for role, perms in ROLES.items():
        group = role_group(role)
        for perm in perms:
            if perm != "*" and not perm.endswith(".*"):
                app, codename = perm.split(".")
                assert group.permissions.filter(content_type__app_label=app, codename=codename).exists(), (role, perm)


def test_reference_data_is_idempotent():
    reference_data_ensure()
    reference_data_ensure()
    assert Group.objects.filter(name__in=ROLE_NAMES.values()).count() == len(ROLE_NAMES)
    assert LedgerAccount.objects.filter(kind__in=LedgerAccount.SINGLETONS).count() == len(LedgerAccount.SINGLETONS)
    assert FeeSchedule.objects.count() == 2


# --- who may do what -----------------------------------------------------------------------------

def test_finance_cannot_report_loss_or_issue(staff, finance):
    card = formal_card(staff)
    holder = HolderFactory()
    before = snapshot()
    calls = [
        lambda: services.card_issue_formal(actor=finance, holder=holder),
        lambda: services.card_report_loss(card=card, actor=finance),
        lambda: services.card_freeze(card=card, actor=finance, reason="x"),
        lambda: services.card_replace(card=card, actor=finance, reason="x"),
        lambda: services.card_extend(card=card, actor=finance, reason="x"),
        lambda: services.card_batch_issue(actor=finance, unit=UnitFactory(), card_type=CardType.CONSUMPTION, quantity=1),
        lambda: services.holder_create(actor=finance, number="N1", name="n", category="staff"),
    ]
    for call in calls:
        with pytest.raises(NotAllowed):
            call()
    assert snapshot() == before


def test_card_centre_staff_cannot_close_accounts_or_adjust(staff):
    card, anonymous = formal_card(staff), consumption_card(staff)
    fund(card, 1000, staff)
    before = snapshot()
    with pytest.raises(NotAllowed):
        services.account_close(actor=staff, holder=card.holder, reason="left")
    with pytest.raises(NotAllowed):
        services.account_close(actor=staff, card=anonymous, payout="cash", reason="x")
    for kind in ("debit_bank_card", "debit_campus_card", "holder_pays_in", "refund_holder"):
        with pytest.raises(NotAllowed):
            services.adjustment_request(actor=staff, holder=card.holder, kind=kind, amount=100, reason="x")
    assert snapshot() == before


def test_cash_operator_merchant_user_and_inactive_staff_can_do_none_of_it(staff, make_user):
    card = formal_card(staff)
    cashier, merchant = make_user("cashier1", "cash_operator"), make_user("merchant1", "merchant_user")
    inactive = make_user("gone1", "card_centre", is_active=False)
    before = snapshot()
    for actor in (cashier, merchant, inactive, None):
        with pytest.raises(NotAllowed):
            services.card_report_loss(card=card, actor=actor)
        with pytest.raises(NotAllowed):
            services.card_issue_formal(actor=actor, holder=HolderFactory.build())
        with pytest.raises(NotAllowed):
            services.card_functions_set(card=card, actor=actor, functions=["library"])
    assert snapshot() == before


def test_unit_agent_imports_batches_but_issues_no_formal_card(make_user, staff):
    unit = UnitFactory()
    agent = unit_agent(make_user, "agent1", unit, by=staff)
    services.card_batch_issue(actor=agent, unit=unit, card_type=CardType.CONSUMPTION, quantity=1)
    with pytest.raises(NotAllowed):
        services.card_issue_formal(actor=agent, holder=HolderFactory())


def test_super_admin_may_do_everything(superuser):
    """Everything but approve its own adjustment (R-ADJ-1: tests/controls/test_adjustments.py)."""
    card = formal_card(superuser)
    services.card_report_loss(card=card, actor=superuser)
    new = services.card_replace(card=card, actor=superuser, reason="lost")
    adjust(card.holder, "refund_holder", 10, by=superuser)
    services.account_close(actor=superuser, holder=new.holder, payout="cash", reason="left")


# --- audit ---------------------------------------------------------------------------------------

def _staff_actions(staff, finance):
    """(label, who, call, audit action) for every staff action that takes a reason."""
    card = formal_card(staff)
    fund(card, 5000, staff)
    ctx = {"card": card}

    def replace():
        ctx["card"] = services.card_replace(card=ctx["card"], actor=staff, reason=REASON)

    return [
        ("report loss", staff, lambda: services.card_report_loss(card=ctx["card"], actor=staff, reason=REASON),
         "card_report_loss"),
        ("reverse loss", staff, lambda: services.card_reverse_loss(card=ctx["card"], actor=staff, reason=REASON),
         "card_reverse_loss"),
        ("freeze", staff, lambda: services.card_freeze(card=ctx["card"], actor=staff, reason=REASON), "card_freeze"),
        ("unfreeze", staff, lambda: services.card_unfreeze(card=ctx["card"], actor=staff, reason=REASON),
         "card_unfreeze"),
        ("replace", staff, replace, "card_replace"),
        ("extend", staff, lambda: services.card_extend(card=ctx["card"], actor=staff, reason=REASON,
                                                       proof_end_date=dt.date(2031, 6, 30)), "card_extend"),
        ("functions", staff, lambda: services.card_functions_set(card=ctx["card"], actor=staff, functions=["library"],
                                                                 reason=REASON), "card_functions"),
        ("functions off", staff, lambda: services.card_functions_set(card=ctx["card"], actor=staff, functions=[],
                                                                     reason=REASON), "card_functions"),
        ("adjust", finance, lambda: services.adjustment_request(actor=finance, holder=card.holder,
                                                                kind="refund_holder", amount=100, reason=REASON),
         "adjustment_request"),
        ("holder update", staff, lambda: services.holder_update(actor=staff, holder=card.holder, reason=REASON,
                                                                name="改名"), "holder_update"),
        ("close", finance, lambda: services.account_close(actor=finance, holder=card.holder, reason=REASON),
         "account_close"),
        ("reopen", staff, lambda: services.holder_reopen(actor=staff, holder=card.holder, reason=REASON),
         "holder_reopen"),
    ]


REASON = "持卡人本人,已验证件"


def test_every_staff_action_is_audited_with_actor_and_reason(staff, finance):
    for label, actor, call, action in _staff_actions(staff, finance):
        last = AuditLog.objects.order_by("-id").values_list("id", flat=True).first()
        call()
        entry = AuditLog.objects.filter(id__gt=last, action=action).order_by("-id").first()
        assert entry is not None, label
        assert (entry.actor, entry.channel, entry.reason) == (actor, "staff", REASON), label
        assert entry.at is not None and (entry.holder is not None or entry.card is not None), label


def test_issue_and_batch_are_audited_with_the_actor(staff):
    card = formal_card(staff)
    batch = services.card_batch_issue(actor=staff, unit=UnitFactory(), card_type=CardType.CONSUMPTION, quantity=2)
    assert AuditLog.objects.get(action="card_issue", card=card).actor == staff
    assert AuditLog.objects.filter(action="card_issue", card__batch=batch, actor=staff).count() == 2
    fee = AuditLog.objects.get(action="batch_fee")
    assert fee.actor == staff and fee.journal.source == f"batch-fee:{batch.pk}"


def test_money_actions_link_their_journal_in_the_audit(staff, finance):
    card = formal_card(staff)
    fund(card, 5000, staff)
    new = services.card_replace(card=card, actor=staff, reason="lost", fee_payment="purse")
    journal = services.account_close(actor=finance, holder=new.holder, reason="left")
    assert AuditLog.objects.get(action="card_replace").journal.kind == "card_fee"
    assert AuditLog.objects.get(action="account_close").journal == journal


def test_a_failed_action_writes_no_audit_row(staff, finance):
    """The audit row is written in the same transaction as the change: when the action fails
    half-way (the old card already marked replaced, then the fee cannot be paid), neither the
    change nor its audit rows remain."""
    card = formal_card(staff)
    fund(card, 100, staff)
    before = snapshot()
    with pytest.raises(InsufficientFunds):
        services.card_replace(card=card, actor=staff, reason="lost", fee_payment="purse")
    assert snapshot() == before
    assert not AuditLog.objects.filter(action__in=["card_replaced", "card_replace"]).exists()
    with pytest.raises(BusinessError):
        services.account_close(actor=finance, holder=card.holder, payout="bank", reason="")
    assert snapshot() == before


def test_audit_rolls_back_with_the_change(staff):
    card = formal_card(staff)
    before = AuditLog.objects.count()
    with transaction.atomic():
        services.card_freeze(card=card, actor=staff, reason="卡库不平")
        assert AuditLog.objects.count() == before + 1
        transaction.set_rollback(True)
    assert AuditLog.objects.count() == before
