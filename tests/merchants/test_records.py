"""The merchant record: defaults, masked bank account, staff corrections with audit."""

import pytest

from accounts.errors import BusinessError, NotAllowed
from accounts.models import AuditLog, LedgerAccount
from merchants import selectors, services
from merchants.models import Merchant, MerchantKind, mask_account_no

pytestmark = pytest.mark.django_db


def test_merchant_create_keeps_its_old_signature(root):
    m = services.merchant_create(actor=root, code="M9", name="老接口", kind=MerchantKind.WATER)
    assert m.status == Merchant.Status.ACTIVE and m.internal and m.unit is None
    assert m.payable_account.kind == LedgerAccount.Kind.MERCHANT
    assert selectors.merchant_get(code="M9") == m


def test_r_set_1_settlement_is_monthly_by_default(merchant):
    assert merchant.settlement_months == 1


def test_r_mer_2_internal_or_external(root):
    ext = services.merchant_create(actor=root, code="EX", name="校外", kind=MerchantKind.RETAIL, internal=False)
    assert not ext.internal


def test_bank_account_is_masked_for_lists(merchant):
    assert merchant.bank_account_masked == "***************4567"
    assert mask_account_no("") == "" and mask_account_no("123") == "****123"


def test_merchant_create_validates(root, staff, fin):
    with pytest.raises(BusinessError):
        services.merchant_create(actor=root, code="B1", name="x", kind=9)
    with pytest.raises(BusinessError):
        services.merchant_create(actor=root, code="B2", name="x", kind=1, settlement_months=0)
    with pytest.raises(BusinessError):
        services.merchant_create(actor=root, code="B3", name="x", kind=1, status=Merchant.Status.REVOKED)
    with pytest.raises(BusinessError):
        services.merchant_create(actor=root, code="B4", name="x", kind=1, bank_account_no="12-34")
    with pytest.raises(NotAllowed):
        services.merchant_create(actor=fin, code="B5", name="x", kind=1)


def test_merchant_update_audits_and_refuses_the_account_number(merchant, root):
    """M§42: the bank account changes only through an approved change form (tests/controls/test_merchant_payout.py)."""
    with pytest.raises(NotAllowed, match="M§42"):
        services.merchant_update(actor=root, merchant=merchant, reason="银行更正", bank_account_no="6222029999998888")
    services.merchant_update(actor=root, merchant=merchant, reason="按月改双月", settlement_months=2,
                             bank_account_no=merchant.bank_account_no)  # unchanged: no refusal
    merchant.refresh_from_db()
    assert merchant.bank_account_no == "6222020200001234567" and merchant.settlement_months == 2
    log = AuditLog.objects.filter(action="merchant_update").latest("id")
    assert log.actor == root and log.reason == "按月改双月" and "bank_account_no" not in log.data["changed"]
    with pytest.raises(BusinessError):  # status changes only through the forms
        services.merchant_update(actor=root, merchant=merchant, status=Merchant.Status.REVOKED)


def test_merchants_for_settlement_leaves_out_never_approved(applied, merchant):
    assert set(selectors.merchants_for_settlement()) == {merchant}
    assert set(selectors.merchants_active()) == {merchant}
