"""Merchant users and scoping: a merchant user sees its own merchant only (R-MER-4); the
settlement contact is named once (R-MER-1); approvers see the forms awaiting their role."""

import pytest

from accounts.errors import BusinessError, NotAllowed
from merchants import selectors, services
from merchants.models import MerchantKind, MerchantUser
from merchants.setup import MERCHANT_GROUP

from .conftest import _fresh, approve_all

pytestmark = pytest.mark.django_db


def test_r_mer_4_merchant_for_user_scopes_to_the_users_own_merchant(merchant, contact_user, root, unit, plain_user):
    other = services.merchant_create(actor=root, code="R01", name="超市", kind=MerchantKind.RETAIL, unit=unit)
    cashier = plain_user("cashier_r")
    services.merchant_user_add(actor=root, merchant=other, user=cashier)
    assert selectors.merchant_for_user(user=contact_user) == merchant
    assert selectors.merchant_for_user(user=cashier) == other
    assert selectors.merchant_for_user(user=root) is None  # staff belong to no merchant
    assert selectors.merchant_for_user(user=None) is None


def test_r_mer_4_removed_or_inactive_user_sees_nothing(merchant, contact_user, root):
    link = MerchantUser.objects.get(user=contact_user)
    services.merchant_user_remove(actor=root, link=link, reason="离职")
    assert selectors.merchant_for_user(user=contact_user) is None
    assert not _fresh(contact_user).groups.filter(name=MERCHANT_GROUP).exists()
    services.merchant_user_add(actor=root, merchant=merchant, user=contact_user, role="cashier")
    contact_user.is_active = False
    contact_user.save()
    assert selectors.merchant_for_user(user=contact_user) is None


def test_merchant_user_gets_portal_permissions_not_staff_ones(contact_user):
    assert contact_user.has_perm("merchants.use_portal")
    assert contact_user.has_perm("merchants.submit_application")
    assert not contact_user.has_perm("merchants.change_merchant")
    assert not contact_user.has_perm("merchants.decide_application")


def test_r_mer_1_one_settlement_contact_and_one_merchant_per_user(merchant, contact_user, root, unit, plain_user, staff):
    with pytest.raises(BusinessError, match="settlement contact"):
        services.merchant_user_add(actor=root, merchant=merchant, user=plain_user(), role="contact")
    other = services.merchant_create(actor=root, code="R02", name="书店", kind=MerchantKind.RETAIL, unit=unit)
    with pytest.raises(BusinessError, match="already belongs"):
        services.merchant_user_add(actor=root, merchant=other, user=contact_user)
    with pytest.raises(BusinessError, match="staff"):
        services.merchant_user_add(actor=root, merchant=other, user=staff)
    assert merchant.settlement_contact.user == contact_user


def test_only_staff_with_permission_link_users(merchant, contact_user, fin, plain_user):
    with pytest.raises(NotAllowed):
        services.merchant_user_add(actor=fin, merchant=merchant, user=plain_user())
    with pytest.raises(NotAllowed):
        services.merchant_user_add(actor=contact_user, merchant=merchant, user=plain_user())


def test_merchant_user_submits_only_for_its_own_merchant(merchant, contact_user, root, unit):
    other = services.merchant_create(actor=root, code="R03", name="他店", kind=MerchantKind.RETAIL, unit=unit)
    with pytest.raises(NotAllowed):
        services.application_submit(actor=contact_user, merchant=other, kind="device",
                                    payload={"count": 1, "purpose": "x"})


def test_applications_awaiting_is_each_roles_inbox(applied, officer, other_officer, centre, centre2, fin):
    assert list(selectors.applications_awaiting(user=officer)) == [applied]
    assert not selectors.applications_awaiting(user=other_officer).exists()  # another unit's officer
    assert not selectors.applications_awaiting(user=centre2).exists()  # not the centre's turn yet
    approve_all(applied, officer)
    assert list(selectors.applications_awaiting(user=centre2)) == [applied]
    assert not selectors.applications_awaiting(user=centre).exists()  # its own submission
    assert not selectors.applications_awaiting(user=officer).exists()
    approve_all(applied, centre2)
    assert list(selectors.applications_awaiting(user=fin)) == [applied]
    assert set(selectors.users_with_role(role="finance", merchant=applied.merchant)) == {fin}
    assert set(selectors.users_with_role(role="unit", merchant=applied.merchant)) == {officer}


def test_unit_approver_link(root, unit, contact_user, officer):
    with pytest.raises(BusinessError):  # a merchant's own user cannot sign for its unit
        services.unit_approver_add(actor=root, unit=unit, user=contact_user)
    with pytest.raises(BusinessError):
        services.unit_approver_add(actor=root, unit=unit, user=officer)
