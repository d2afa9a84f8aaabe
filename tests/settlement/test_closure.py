"""Graduation closure of a cohort (R-CLOSE-2) and bank adjustments with two-person approval (R-ADJ-1)."""

import csv
import datetime as dt
import io

import pytest

from accounts import services as accounts_services
from accounts.errors import BusinessError
from accounts.models import AdjustmentRequest, Cardholder, LedgerAccount
from accounts.services import Adjustment, card_issue_formal
from settlement import reports, services
from settlement.models import ClosureLine
from tests.accounts.helpers import fund
from tests.factories import HolderFactory

pytestmark = pytest.mark.django_db


def test_r_close_2_cohort_closed_paid_to_bank_cards_and_holders_without_one_listed(admin_user):
    year = 2027
    paid = HolderFactory(end_date=dt.date(year, 7, 31), bank_card_no="6222000011112222")
    empty = HolderFactory(end_date=dt.date(year, 7, 31), bank_card_no="")
    nocard = HolderFactory(end_date=dt.date(year, 7, 31), bank_card_no="")
    other_year = HolderFactory(end_date=dt.date(year + 1, 7, 31))
    for h in (paid, empty, nocard, other_year):
        card_issue_formal(actor=admin_user, holder=h)
    fund(paid, 12345, admin_user)
    fund(nocard, 500, admin_user)
    bank_before = LedgerAccount.objects.get(kind="bank").balance
    closure = services.graduation_close(actor=admin_user, graduation_year=year, reason="2027届本科毕业")
    lines = {line.holder_id: line for line in closure.lines.all()}
    assert set(lines) == {paid.pk, empty.pk, nocard.pk}
    assert lines[paid.pk].status == ClosureLine.Status.PAID and lines[paid.pk].amount == 12345
    assert lines[empty.pk].status == ClosureLine.Status.CLOSED
    assert lines[nocard.pk].status == ClosureLine.Status.NO_BANK_CARD  # listed, not dropped
    assert (closure.paid, closure.total, closure.without_bank_card) == (1, 12345, 1)
    assert Cardholder.objects.get(pk=paid.pk).status == "closed"
    assert Cardholder.objects.get(pk=nocard.pk).status == "active"
    assert bank_before - LedgerAccount.objects.get(kind="bank").balance == 12345
    rows = list(csv.reader(io.StringIO(reports.closure_bank_file_csv(closure=closure).decode("utf-8-sig"))))
    assert rows[1][1:] == ["6222000011112222", paid.name, paid.number, "123.45"]
    assert len(rows) == 2
    unpaid = reports.closure_unpaid_table(closure=closure)
    assert [r[0] for r in unpaid.rows] == [nocard.number]


def test_r_adj_1_adjustment_needs_a_second_person(admin_user, finance2):
    holder = HolderFactory()
    card_issue_formal(actor=admin_user, holder=holder)
    req = accounts_services.adjustment_request(actor=admin_user, holder=holder, kind=Adjustment.REFUND_HOLDER, amount=800,
                                      reason="bank debited twice", bank_ref="BK-77")
    with pytest.raises(BusinessError, match="someone other"):
        accounts_services.adjustment_decide(actor=admin_user, request=req, approve=True)
    req = accounts_services.adjustment_decide(actor=finance2, request=req, approve=True)
    assert req.status == AdjustmentRequest.Status.APPROVED and req.journal is not None
    assert holder.purse.account.__class__.objects.get(pk=holder.purse.account_id).balance == 800
    with pytest.raises(BusinessError):
        accounts_services.adjustment_decide(actor=finance2, request=req, approve=False, note="late")
    with pytest.raises(BusinessError, match="Unknown"):
        accounts_services.adjustment_request(actor=admin_user, holder=holder, kind="gift", amount=1, reason="x")
    other = accounts_services.adjustment_request(actor=admin_user, holder=holder, kind=Adjustment.DEBIT_BANK_CARD,
                                                 amount=5, reason="check")
    decided = accounts_services.adjustment_decide(actor=finance2, request=other, approve=False, note="bank was right")
    assert decided.journal is None
