"""Shared helpers for the accounts service tests: cards of each type, money on a purse, and a
snapshot of everything a refused service call must leave untouched."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from accounts import services
from accounts.ledger import journal_post
from accounts.models import (
    AuditLog,
    BlockListEntry,
    Card,
    Cardholder,
    CardType,
    IssueBatch,
    Journal,
    LedgerAccount,
    Posting,
    Purse,
)
from tests.factories import HolderFactory, UnitFactory

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Staff fixtures create users with passwords; PBKDF2 would dominate the run time.
    Import this autouse fixture into a test module to use it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A moment in the business time zone, for time_machine.travel(..., tick=False)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SH)


def balance(kind: str) -> int:
    """Balance of a system (singleton) ledger account."""
    return LedgerAccount.objects.get(kind=kind).balance


def purse_of(card_or_holder) -> Purse:
    if isinstance(card_or_holder, Card):
        return Purse.objects.select_related("account").get(pk=card_or_holder.purse_id)
    return Purse.objects.select_related("account").get(holder=card_or_holder)


def fund(card_or_holder, amount: int, actor) -> Purse:
    """Put `amount` fen on a purse as a cash top-up would: account and card agree."""
    purse = purse_of(card_or_holder)
    cash = services.cash_account_for(actor)
    journal_post(kind="deposit", lines=[(cash, amount), (purse.account, -amount)], actor=actor, reason="test top-up")
    Purse.objects.filter(pk=purse.pk).update(card_balance=purse.account.balance + amount)
    return purse_of(card_or_holder)


def adjust(holder, kind: str, amount: int, *, by, reason: str = "bank reconciliation", approver=None):
    """An adjustment as R-ADJ-1 has it: `by` asks, another person (a finance checker made for the
    purpose unless given) approves; returns the approved request (its journal posted)."""
    from django.contrib.auth import get_user_model

    from accounts.setup import role_group

    if approver is None:
        approver, created = get_user_model().objects.get_or_create(username="adjust-checker",
                                                                   defaults={"is_staff": True})
        if created:
            approver.groups.add(role_group("finance"))
            approver = get_user_model().objects.get(pk=approver.pk)
    if not by.has_perm("accounts.add_adjustmentrequest"):  # a role that cannot ask: the checker asks for it
        by, approver = approver, by
    req = services.adjustment_request(actor=by, holder=holder, kind=kind, amount=amount, reason=reason)
    return services.adjustment_decide(actor=approver, request=req, approve=True)


def formal_card(actor, **holder_fields) -> Card:
    holder = HolderFactory(**holder_fields)
    return services.card_issue_formal(actor=actor, holder=holder)


def ordinary_card(actor, *, number: str = "C0001", name: str = "王五", category: str = "contract_staff",
                  end_date: str = "", unit=None) -> Card:
    unit = unit or UnitFactory()
    row = {"_row": 2, "number": number, "name": name, "category": category, "end_date": end_date}
    batch = services.card_batch_issue(actor=actor, unit=unit, card_type=CardType.ORDINARY, rows=[row])
    return batch.cards.get()


def unit_agent(make_user, username: str, unit, *, by) -> object:
    """A login with the unit-agent role tied to `unit` (R-ISSUE-2), tied by staff `by`."""
    agent = make_user(username, "unit_agent")
    services.unit_agents_set(actor=by, unit=unit, users=[*(a.user for a in unit.agents.all()), agent],
                             reason="appointed by the unit")
    return agent


def consumption_card(actor, unit=None) -> Card:
    batch = services.card_batch_issue(actor=actor, unit=unit or UnitFactory(), card_type=CardType.CONSUMPTION,
                                      quantity=1)
    return batch.cards.get()


def snapshot() -> dict:
    """Everything a refused call must leave as it was."""
    return {
        "holders": list(Cardholder.objects.order_by("pk").values_list("pk", "status", "end_date")),
        "cards": list(Card.objects.order_by("pk").values_list("pk", "status", "valid_until", "functions")),
        "journals": Journal.objects.count(),
        "postings": Posting.objects.count(),
        "balances": list(LedgerAccount.objects.order_by("pk").values_list("pk", "balance")),
        "purses": list(Purse.objects.order_by("pk").values_list("pk", "pending", "card_balance")),
        "audit": AuditLog.objects.count(),
        "blocklist": BlockListEntry.objects.count(),
        "batches": IssueBatch.objects.count(),
    }
