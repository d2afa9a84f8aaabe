"""R-ADJ-1: every adjustment is a request another person approves (maker-checker), within a limit
the school sets as data, never overdrawing a purse. Before: the holder page's 账务调整 posted at once,
and a single finance user put 9,999,999,999.99 yuan on a purse in one step.

Each test tries the way around through the real screens, as the real roles: the holder page, the
finance desk, the admin's adjustment list and reject form, the limit's admin page, the database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts import services
from accounts.errors import BusinessError
from accounts.models import AdjustmentLimit, AdjustmentRequest, AuditLog, Journal
from accounts.timeutil import business_day
from tests.accounts.helpers import formal_card, fund, purse_of

pytestmark = pytest.mark.django_db
HUGE_YUAN = "9999999999.99"


@pytest.fixture
def card(staff):
    card = formal_card(staff)
    fund(card, 10000, staff)
    return card


@pytest.fixture
def fin_a(make_user):
    return make_user("fin_a", "finance")


@pytest.fixture
def fin_b(make_user):
    return make_user("fin_b", "finance")


def holder_adjust(client, user, holder, kind, amount_yuan, reason="bank diff"):
    client.force_login(user)
    return client.post(reverse("admin:accounts_cardholder_adjust", args=[holder.pk]),
                       {"kind": kind, "amount": amount_yuan, "reason": reason}, follow=True)


def adjustments_posted() -> int:
    return Journal.objects.filter(kind="adjustment").count()


def test_r_adj_1_the_holder_page_files_a_request_and_posts_nothing(client, fin_a, card):
    holder_adjust(client, fin_a, card.holder, "refund_holder", "12.34")
    req = AdjustmentRequest.objects.get()
    assert (req.status, req.amount, req.requested_by) == ("pending", 1234, fin_a)
    assert adjustments_posted() == 0 and purse_of(card).account.balance == 10000
    assert AuditLog.objects.filter(action="adjustment_request", actor=fin_a).exists()


@pytest.mark.parametrize("who", ["finance", "superuser"])
def test_r_adj_1_nobody_approves_their_own_request_on_any_screen(client, request, who, fin_b, card):
    """The asker, even a superuser holding every permission, cannot approve or reject their own
    request on the finance desk, the admin list's action, the admin reject form or the service."""
    asker = request.getfixturevalue(who)
    holder_adjust(client, asker, card.holder, "refund_holder", "50.00")
    req = AdjustmentRequest.objects.get()
    client.force_login(asker)
    client.post(f"/finance/adjustments/{req.pk}/approve/")
    client.post("/admin/accounts/adjustmentrequest/", {"action": "approve", "_selected_action": [req.pk]})
    client.post(f"/admin/accounts/adjustmentrequest/{req.pk}/reject/", {"text": "own"})
    with pytest.raises(BusinessError, match="R-ADJ-1"):
        services.adjustment_decide(actor=asker, request=req, approve=True)
    req.refresh_from_db()
    assert req.status == "pending" and adjustments_posted() == 0
    # Nor by writing the row: the database refuses a decision by the asker.
    with pytest.raises(IntegrityError), transaction.atomic():
        AdjustmentRequest.objects.filter(pk=req.pk).update(status="rejected", decided_by=asker)
    # Another person approves: posted through the ledger, with its audit rows, at once.
    client.force_login(fin_b)
    client.post(f"/finance/adjustments/{req.pk}/approve/")
    req.refresh_from_db()
    assert req.status == "approved" and req.decided_by == fin_b and req.journal.actor == fin_b
    assert AuditLog.objects.filter(action="account_adjust", journal=req.journal, actor=fin_b).exists()
    assert purse_of(card).account.balance == 15000 and purse_of(card).pending == 5000
    client.post(f"/finance/adjustments/{req.pk}/approve/")  # twice: nothing more
    assert adjustments_posted() == 1


@pytest.mark.parametrize("who", ["finance", "superuser"])
def test_r_adj_1_9999999999_yuan_is_refused_for_every_role(client, request, who, card):
    user = request.getfixturevalue(who)
    for kind in ("refund_holder", "debit_bank_card", "holder_pays_in", "debit_campus_card"):
        resp = holder_adjust(client, user, card.holder, kind, HUGE_YUAN)
        assert resp.status_code == 200
    for amount in (999999999999, 10**30, services.adjustment_limit() + 1):
        with pytest.raises(BusinessError):
            services.adjustment_request(actor=user, holder=card.holder, kind="refund_holder", amount=amount,
                                        reason="x")
    assert not AdjustmentRequest.objects.exists() and adjustments_posted() == 0
    assert purse_of(card).account.balance == 10000


def test_r_adj_1_the_limit_is_data_only_the_super_admin_sets_it(client, fin_a, superuser, card):
    limit = services.adjustment_limit()
    assert limit == AdjustmentLimit.objects.get().amount  # the default, from reference data
    tomorrow = business_day() + dt.timedelta(days=1)
    client.force_login(fin_a)
    assert client.post("/admin/accounts/adjustmentlimit/add/", {"amount_yuan": HUGE_YUAN, "effective_from": tomorrow,
                                                                "reason": "x"}).status_code == 403
    client.force_login(superuser)
    resp = client.post("/admin/accounts/adjustmentlimit/add/", {"amount_yuan": HUGE_YUAN, "effective_from": tomorrow,
                                                                "reason": "x"})
    assert resp.status_code == 200 and AdjustmentLimit.objects.count() == 1  # beyond any sensible limit
    resp = client.post("/admin/accounts/adjustmentlimit/add/", {"amount_yuan": "100.00", "effective_from": business_day(),
                                                                "reason": "财务处通知"})
    assert resp.status_code == 302
    assert services.adjustment_limit() == 10000
    with pytest.raises(BusinessError, match="10000"):
        services.adjustment_request(actor=fin_a, holder=card.holder, kind="refund_holder", amount=10001, reason="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        AdjustmentLimit.objects.create(amount=0, effective_from=tomorrow)


def test_r_adj_1_a_debit_never_overdraws_the_purse_when_asked_or_when_approved(client, fin_a, fin_b, card):
    resp = holder_adjust(client, fin_a, card.holder, "debit_campus_card", "100.01")
    assert "10000" in " ".join(str(m) for m in resp.context["messages"])
    assert not AdjustmentRequest.objects.exists()
    holder_adjust(client, fin_a, card.holder, "debit_campus_card", "80.00")
    req = AdjustmentRequest.objects.get()
    # The purse is spent down before the approval: approving would overdraw, so it is refused
    # and nothing of the decision is written.
    from accounts.ledger import journal_post
    from accounts.models import LedgerAccount

    journal_post(kind="purchase", lines=[(purse_of(card).account, 5000),
                                         (LedgerAccount.objects.get(kind="suspense"), -5000)], actor=fin_a, reason="spent")
    client.force_login(fin_b)
    client.post(f"/finance/adjustments/{req.pk}/approve/")
    req.refresh_from_db()
    assert req.status == "pending" and req.decided_by is None and adjustments_posted() == 0
    assert not AuditLog.objects.filter(action="adjustment_decide").exists()
    assert purse_of(card).account.balance == 5000


def test_r_adj_1_card_centre_and_cashiers_cannot_ask(client, staff, make_user, card):
    cashier = make_user("cashier1", "cash_operator")
    for user in (staff, cashier):
        client.force_login(user)
        assert client.post(reverse("admin:accounts_cardholder_adjust", args=[card.holder.pk]),
                           {"kind": "refund_holder", "amount": "1.00", "reason": "x"}).status_code == 403
    assert not AdjustmentRequest.objects.exists()
