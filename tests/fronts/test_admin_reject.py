"""Admin forms to reject a correction form (U§9) or a bank adjustment (R-ADJ-1) with a reason."""

from __future__ import annotations

import pytest

from accounts.models import AdjustmentRequest
from accounts.services import Adjustment, adjustment_request, card_issue_formal
from settlement import services
from settlement.models import Correction
from tests.factories import HolderFactory

pytestmark = pytest.mark.django_db


def test_r_mer_3_centre_rejects_a_correction_form_with_a_reason(client, staff, two_merchants):
    rec = two_merchants["A"]["records"][0]
    corr = services.correction_request(actor=two_merchants["A"]["user"], record=rec, amount=100, reason="多扣",
                                       merchant_confirmed=True, holder_confirmed=True)
    client.force_login(staff)
    assert f"/admin/settlement/correction/{corr.pk}/reject/" in client.get("/admin/settlement/correction/").content.decode()
    assert client.get(f"/admin/settlement/correction/{corr.pk}/reject/").status_code == 200
    resp = client.post(f"/admin/settlement/correction/{corr.pk}/reject/", {"text": ""})
    assert resp.status_code == 200
    corr.refresh_from_db()
    assert corr.status == Correction.Status.REQUESTED
    resp = client.post(f"/admin/settlement/correction/{corr.pk}/reject/", {"text": "持卡人未确认"})
    assert resp.status_code == 302
    corr.refresh_from_db()
    assert corr.status == Correction.Status.REJECTED and corr.decision_note == "持卡人未确认" and corr.journal is None
    again = client.post(f"/admin/settlement/correction/{corr.pk}/reject/", {"text": "x"})
    assert again.status_code == 200  # the form again, with the service's refusal: already decided


def test_r_adj_1_second_person_rejects_an_adjustment_in_the_admin(client, make_user, superuser):
    asker, other = make_user("fin_ask", "finance"), make_user("fin_other", "finance")
    holder = HolderFactory()
    card_issue_formal(actor=superuser, holder=holder)
    req = adjustment_request(actor=asker, holder=holder, kind=Adjustment.DEBIT_BANK_CARD, amount=500, reason="对帐差异")
    client.force_login(asker)
    resp = client.post(f"/admin/accounts/adjustmentrequest/{req.pk}/reject/", {"text": "自己驳回"})
    assert resp.status_code == 200  # the asker may not decide (two-person rule)
    req.refresh_from_db()
    assert req.status == AdjustmentRequest.Status.PENDING
    client.force_login(other)
    resp = client.post(f"/admin/accounts/adjustmentrequest/{req.pk}/reject/", {"text": "银行记录无误"})
    assert resp.status_code == 302
    req.refresh_from_db()
    assert req.status == AdjustmentRequest.Status.REJECTED and req.decided_by == other


def test_merchant_cannot_reach_the_reject_forms(client, two_merchants, staff):
    corr = services.correction_request(actor=two_merchants["A"]["user"], record=two_merchants["A"]["records"][0],
                                       amount=100, reason="x", merchant_confirmed=True, holder_confirmed=True)
    client.force_login(two_merchants["A"]["user"])
    assert client.post(f"/admin/settlement/correction/{corr.pk}/reject/", {"text": "x"}).status_code == 302  # to login
    corr.refresh_from_db()
    assert corr.status == Correction.Status.REQUESTED
