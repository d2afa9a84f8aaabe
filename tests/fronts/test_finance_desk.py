"""Finance desk: bank adjustments to approve or reject by a second person (R-ADJ-1), graduation
closures with the bank transfer file (R-CLOSE-2), and the payout list with the payee's bank
account, masked on screen and in full in the file."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from accounts.models import AdjustmentRequest, AuditLog
from accounts.services import Adjustment, adjustment_request, card_issue_formal
from merchants.services import merchant_create
from settlement import services
from settlement.models import Statement
from tests.accounts.helpers import fund
from tests.factories import HolderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fin_a(make_user):
    return make_user("fin_a", "finance")


@pytest.fixture
def fin_b(make_user):
    return make_user("fin_b", "finance")


@pytest.fixture
def request_800(fin_a, superuser):
    holder = HolderFactory()
    card_issue_formal(actor=superuser, holder=holder)
    return adjustment_request(actor=fin_a, holder=holder, kind=Adjustment.REFUND_HOLDER, amount=800,
                              reason="银行重复扣款", bank_ref="BK-77")


def test_r_adj_1_second_person_approves_on_the_desk(client, fin_a, fin_b, request_800):
    client.force_login(fin_a)
    page = client.get("/finance/adjustments/").content.decode()
    assert f'id="adjustment-{request_800.pk}"' in page and "8.00" in page and "向持卡人补款" in page
    assert f"/finance/adjustments/{request_800.pk}/approve/" not in page  # asked by fin_a: no button for her
    resp = client.post(f"/finance/adjustments/{request_800.pk}/approve/", follow=True)
    request_800.refresh_from_db()
    assert request_800.status == AdjustmentRequest.Status.PENDING and 'class="error"' in resp.content.decode()
    client.force_login(fin_b)
    assert f"/finance/adjustments/{request_800.pk}/approve/" in client.get("/finance/adjustments/").content.decode()
    client.post(f"/finance/adjustments/{request_800.pk}/approve/")
    request_800.refresh_from_db()
    assert request_800.status == AdjustmentRequest.Status.APPROVED and request_800.decided_by == fin_b
    assert request_800.holder.purse.account.__class__.objects.get(pk=request_800.holder.purse.account_id).balance == 800


def test_r_adj_1_rejection_needs_a_reason(client, fin_b, request_800):
    client.force_login(fin_b)
    client.post(f"/finance/adjustments/{request_800.pk}/reject/", {"note": ""})
    request_800.refresh_from_db()
    assert request_800.status == AdjustmentRequest.Status.PENDING
    client.post(f"/finance/adjustments/{request_800.pk}/reject/", {"note": "银行记录无误"})
    request_800.refresh_from_db()
    assert request_800.status == AdjustmentRequest.Status.REJECTED and request_800.decision_note == "银行记录无误"
    assert request_800.journal is None
    assert AuditLog.objects.filter(action="adjustment_decide", actor=fin_b).exists()
    assert client.post(f"/finance/adjustments/{request_800.pk}/bogus/").status_code == 404


def test_card_centre_and_merchants_are_kept_off_adjustments(client, staff, request_800, two_merchants):
    client.force_login(staff)
    assert client.get("/finance/adjustments/").status_code == 403
    assert client.post(f"/finance/adjustments/{request_800.pk}/approve/").status_code == 403
    client.force_login(two_merchants["A"]["user"])
    assert client.get("/finance/adjustments/").status_code == 403
    request_800.refresh_from_db()
    assert request_800.status == AdjustmentRequest.Status.PENDING


def test_r_close_2_graduation_closure_and_its_bank_file(client, fin_a, superuser):
    year = 2027
    paid = HolderFactory(end_date=dt.date(year, 7, 31), bank_card_no="6222000011112222")
    nocard = HolderFactory(end_date=dt.date(year, 7, 31), bank_card_no="")
    for h in (paid, nocard):
        card_issue_formal(actor=superuser, holder=h)
    fund(paid, 12345, superuser)
    fund(nocard, 500, superuser)
    closure = services.graduation_close(actor=superuser, graduation_year=year, reason="2027届本科毕业")
    client.force_login(fin_a)
    page = client.get("/finance/closures/").content.decode()
    assert f'id="closure-{closure.pk}"' in page and "123.45" in page
    detail = client.get(f"/finance/closures/{closure.pk}/").content.decode()
    assert nocard.number in detail and "5.00" in detail
    bank = client.get(f"/finance/closures/{closure.pk}/bank.csv")
    assert bank.status_code == 200 and "attachment" in bank["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(bank.content.decode("utf-8-sig"))))
    assert rows[1][1:] == ["6222000011112222", paid.name, paid.number, "123.45"] and len(rows) == 2
    unpaid = load_workbook(io.BytesIO(client.get(f"/finance/closures/{closure.pk}/unpaid.xlsx").content))
    assert nocard.number in [c.value for row in unpaid.active.iter_rows() for c in row]
    assert client.get("/finance/closures/999999/bank.csv").status_code == 404


@pytest.fixture
def payable(superuser):
    """An approved January statement of a merchant with a bank account on file."""
    m = merchant_create(actor=superuser, code="PAY1", name="收款商户", kind=1, bank_name="中国工商银行",
                        bank_account_name="收款商户", bank_account_no="6222020200012345678")
    return Statement.objects.create(merchant=m, period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 1, 31),
                                    status=Statement.Status.APPROVED, consumption=100620, fee=503, net=100117,
                                    computed_at=timezone.now())


def test_payout_list_masks_the_account_on_screen_and_has_it_in_full_in_the_file(client, fin_a, payable):
    client.force_login(fin_a)
    page = client.get("/finance/payouts/?month=2026-01").content.decode()
    assert f'id="payout-{payable.pk}"' in page and "1001.17" in page and "中国工商银行" in page
    assert "6222020200012345678" not in page and "5678" in page
    xlsx = client.get("/finance/reports/payouts.xlsx?month=2026-01")
    cells = [str(c.value) for row in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows() for c in row]
    assert "6222020200012345678" in cells
    text = client.get("/finance/reports/payouts.csv?month=2026-01").content.decode("utf-8-sig")
    assert "6222020200012345678" in text and "1001.17" in text


def test_finance_pages_in_english_on_switch(client, fin_a, payable):
    client.force_login(fin_a)
    client.post("/i18n/setlang/", {"language": "en", "next": "/finance/"})
    assert "Payout list" in client.get("/finance/payouts/?month=2026-01").content.decode()
    assert "Adjustments to approve" in client.get("/finance/adjustments/").content.decode()
