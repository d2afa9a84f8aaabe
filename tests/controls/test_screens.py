"""Screens for what existed only as a Python function (issue 10): graduation cohort closure with its
bank file on the finance desk (R-CLOSE-2), marking a repeat-offender merchant (R-DUP-2) and a
staff-side duplicate refund (R-DUP-1) in the admin. Each asks for confirmation, checks the
permission (tried as the roles that must be refused) and calls the existing service."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse

from accounts.models import AuditLog, Cardholder, Purse
from accounts.services import card_issue_formal
from merchants.models import MerchantKind
from settlement.models import GraduationClosure, MerchantPolicy, Refund
from terminals.models import Record
from tests.accounts.helpers import fund
from tests.factories import HolderFactory
from tests.terminals.helpers import Till

pytestmark = pytest.mark.django_db


# --- R-CLOSE-2: the finance desk ----------------------------------------------------------------

@pytest.fixture
def cohort(staff):
    paid = HolderFactory(end_date=dt.date(2027, 7, 31), bank_card_no="6222000011112222")
    no_card = HolderFactory(end_date=dt.date(2027, 7, 31), bank_card_no="")
    for h in (paid, no_card):
        card_issue_formal(actor=staff, holder=h)
    fund(paid, 12345, staff)
    fund(no_card, 500, staff)
    return paid, no_card


def test_r_close_2_the_desk_shows_the_cohort_then_closes_it_on_confirmation(client, finance, cohort):
    paid, no_card = cohort
    client.force_login(finance)
    assert 'id="closure-new"' in client.get("/finance/closures/").content.decode()
    form = {"graduation_year": "2027", "reason": "2027届本科毕业"}
    page = client.post("/finance/closures/new/", form).content.decode()
    assert 'id="preview"' in page and "123.45" in page and paid.number in page
    assert not GraduationClosure.objects.exists() and Cardholder.objects.get(pk=paid.pk).status == "active"
    resp = client.post("/finance/closures/new/", {**form, "confirm": "on"})
    closure = GraduationClosure.objects.get()
    assert resp.status_code == 302 and resp.url == reverse("finance:closure", args=[closure.pk])
    assert Cardholder.objects.get(pk=paid.pk).status == "closed"
    assert Cardholder.objects.get(pk=no_card.pk).status == "active"  # listed, left open
    rows = list(csv.reader(io.StringIO(client.get(f"/finance/closures/{closure.pk}/bank.csv").content.decode("utf-8-sig"))))
    assert rows[1][1:] == ["6222000011112222", paid.name, paid.number, "123.45"]


def test_r_close_2_only_finance_closes_a_cohort(client, staff, make_user, cohort):
    for user in (staff, make_user("cashier1", "cash_operator")):
        client.force_login(user)
        resp = client.post("/finance/closures/new/", {"graduation_year": "2027", "reason": "x", "confirm": "on"})
        assert resp.status_code == 403
    client.logout()
    assert client.post("/finance/closures/new/", {"graduation_year": "2027", "reason": "x",
                                                  "confirm": "on"}).status_code == 302  # to the login
    assert not GraduationClosure.objects.exists()


# --- R-DUP-1, R-DUP-2: the admin ----------------------------------------------------------------

@pytest.fixture
def duplicate(make_terminal, funded_card, rates):
    till = Till(make_terminal(MerchantKind.RETAIL)[0])
    card = till.card(funded_card(10000))
    till.send([till.purchase(card, 700), till.purchase(card, 700)])  # within the duplicate guard
    original, dup = Record.objects.filter(terminal=till.terminal).order_by("term_seq")
    assert "suspected_duplicate" in dup.problems
    return original, dup, card


def test_r_dup_2_staff_mark_a_repeat_offender_after_confirming(client, staff, finance, duplicate):
    merchant = duplicate[1].merchant
    url = reverse("admin:settlement_merchantpolicy_offender")
    client.force_login(finance)  # finance does not handle merchants' duplicates
    assert client.post(url, {"merchant": merchant.pk, "offender": "yes", "reason": "x", "confirm": "on"}).status_code == 403
    client.force_login(staff)
    assert url in client.get(reverse("admin:settlement_merchantpolicy_changelist")).content.decode()
    resp = client.post(url, {"merchant": merchant.pk, "offender": "yes", "reason": "本学期第三次重复扣款"})
    assert resp.status_code == 200 and not MerchantPolicy.objects.exists()  # not confirmed
    resp = client.post(url, {"merchant": merchant.pk, "offender": "yes", "reason": "本学期第三次重复扣款", "confirm": "on"})
    assert resp.status_code == 302
    assert MerchantPolicy.objects.get(merchant=merchant).repeat_offender
    assert AuditLog.objects.filter(action="merchant_offender", actor=staff).exists()


def test_r_dup_1_staff_refund_a_duplicate_and_r_dup_2_both_for_an_offender(client, staff, finance, duplicate):
    original, dup, card = duplicate
    MerchantPolicy.objects.create(merchant=dup.merchant, repeat_offender=True, reason="test")
    listing = reverse("admin:settlement_refund_duplicates")
    refund = reverse("admin:settlement_refund_duplicate", args=[dup.pk])
    client.force_login(finance)
    assert client.get(listing).status_code == 403
    assert client.post(refund, {"reason": "x", "confirm": "on"}).status_code == 403
    client.force_login(staff)
    assert listing in client.get(reverse("admin:settlement_refund_changelist")).content.decode()
    page = client.get(listing).content.decode()
    assert refund in page and str(card.card_no) in page
    assert "退一赔一" in client.get(refund).content.decode()
    client.post(refund, {"reason": "持卡人来中心, 商户确认"})  # not confirmed
    assert not Refund.objects.exists()
    assert client.post(refund, {"reason": "持卡人来中心, 商户确认", "confirm": "on"}).status_code == 302
    kinds = sorted(Refund.objects.values_list("kind", flat=True))
    assert kinds == ["compensation", "duplicate"]  # 退一赔一: both charges back, at the merchant's cost
    assert Purse.objects.get(pk=card.purse_id).pending == 1400
    assert client.get(refund).status_code == 404  # refunded: no second time
    assert refund not in client.get(listing).content.decode()
