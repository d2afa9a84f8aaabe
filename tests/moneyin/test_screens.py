"""The staff screens of money in, through the real admin as the real roles: a counter bank
transfer, the transfers list, the statement import (a bad file refused with its reason, nothing
written), the differences and the adjustment asked there and approved by another (R-ADJ-1)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts import services
from accounts.models import AdjustmentRequest
from accounts.timeutil import business_day
from moneyin.models import BankStatement, BankTransfer, StatementDifference
from tests.accounts.helpers import formal_card

pytestmark = pytest.mark.django_db


def test_r_adj_1_screens_transfer_import_adjust(client, bank, staff, make_user):
    fin_a, fin_b = make_user("fin_a", "finance"), make_user("fin_b", "finance")
    holder = formal_card(staff).holder
    client.force_login(staff)
    r = client.post(reverse("admin:moneyin_banktransfer_send"), {"number": holder.number, "amount": "12.34"},
                    follow=True)
    assert r.status_code == 200
    t = BankTransfer.objects.get()
    assert (t.status, t.amount, t.channel, t.actor) == ("approved", 1234, "staff", staff)
    assert client.get(reverse("admin:moneyin_banktransfer_changelist")).status_code == 200
    assert client.get(reverse("admin:moneyin_banktransfer_change", args=[t.pk])).status_code == 200
    assert client.get(reverse("admin:moneyin_bankstatement_import")).status_code == 403  # finance imports

    client.force_login(fin_a)
    day = business_day()
    bad = SimpleUploadedFile("bank.csv", b"date,rrn,stan,bank_card,campus_account,campus_card,amount\n"
                                         b"2026-02-30,123456789012,1,1,1,,1.00\n")
    r = client.post(reverse("admin:moneyin_bankstatement_import"), {"source": "bank", "day": day, "file": bad})
    assert r.status_code == 200 and "第 2 行" in r.content.decode() and not BankStatement.objects.exists()
    csv = bank.statement(day) + f"{day},999000000003,000001,1,{holder.number},,5.00\n"
    r = client.post(reverse("admin:moneyin_bankstatement_import"),
                    {"source": "bank", "day": day, "file": SimpleUploadedFile("bank.csv", csv.encode())}, follow=True)
    assert r.status_code == 200
    st = BankStatement.objects.get()
    assert (st.matched, st.differences.count()) == (1, 1)
    for url in (reverse("admin:moneyin_bankstatement_changelist"), reverse("admin:moneyin_bankstatement_change", args=[st.pk]),
                reverse("admin:moneyin_statementdifference_changelist")):
        assert client.get(url).status_code == 200
    d = StatementDifference.objects.get()
    url = reverse("admin:moneyin_statementdifference_adjust", args=[d.pk])
    assert "refund_holder" in client.get(url).content.decode()
    r = client.post(url, {"kind": "debit_campus_card", "reason": "x"})  # not a kind for a long difference
    assert r.status_code == 200 and not AdjustmentRequest.objects.exists()
    client.post(url, {"kind": "refund_holder", "reason": "长款"}, follow=True)
    req = AdjustmentRequest.objects.get()
    services.adjustment_decide(actor=fin_b, request=req, approve=True)
    d.refresh_from_db()
    assert d.resolved
