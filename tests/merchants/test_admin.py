"""The admin pages: lists render with masked accounts; approve/reject buttons call the service."""

import pytest
from django.urls import reverse

from merchants.models import Application, Merchant
from terminals.models import Terminal

from .conftest import approve_all

pytestmark = pytest.mark.django_db


def test_merchant_list_masks_the_bank_account(client, root, merchant):
    client.force_login(root)
    page = client.get(reverse("admin:merchants_merchant_changelist")).content.decode()
    assert "4567" in page and "6222020200001234567" not in page
    assert client.get(reverse("admin:merchants_merchant_change", args=[merchant.pk])).status_code == 200


def test_admin_add_merchant_goes_through_the_service(client, root, unit):
    client.force_login(root)
    response = client.post(reverse("admin:merchants_merchant_add"), {
        "code": "AD1", "name": "新商户", "kind": 3, "internal": "on", "unit": unit.pk, "location": "",
        "settlement_months": 1, "bank_name": "", "bank_account_name": "", "bank_account_no": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    m = Merchant.objects.get(code="AD1")
    assert m.payable_account.code == "MER-AD1"


def test_approve_and_reject_buttons(client, applied, officer, centre2):
    url = reverse("admin:merchants_application_change", args=[applied.pk])
    decide = reverse("admin:merchants_application_decide", args=[applied.pk])
    client.force_login(centre2)  # not the centre's turn: no buttons, and a POST is refused by the service
    assert 'id="decide-form"' not in client.get(url).content.decode()
    client.post(decide, {"approve": "1", "comment": ""})
    applied.refresh_from_db()
    assert applied.step == 0
    client.force_login(officer)
    assert 'id="decide-form"' in client.get(url).content.decode()
    client.post(decide, {"approve": "1", "comment": "同意"})
    applied.refresh_from_db()
    assert applied.step == 1
    client.force_login(centre2)
    client.post(decide, {"reject": "1", "comment": "资料不全"})
    applied.refresh_from_db()
    assert applied.status == Application.Status.REJECTED


def test_unit_officer_sees_only_its_units_forms(client, applied, other_officer, officer):
    client.force_login(other_officer)
    assert client.get(reverse("admin:merchants_application_change", args=[applied.pk])).status_code in (302, 404)
    client.force_login(officer)
    assert applied.reference in client.get(reverse("admin:merchants_application_changelist")).content.decode()


def test_staff_types_in_a_device_form_and_sees_keys_once(client, merchant, centre, officer, centre2):
    client.force_login(centre)
    response = client.post(reverse("admin:merchants_application_add"), {
        "merchant": merchant.pk, "kind": "device", "payload_json": '{"count": 1, "purpose": "纸质表录入"}'})
    assert response.status_code == 302
    app = Application.objects.get(kind="device")
    approve_all(app, officer)
    client.force_login(centre2)
    response = client.post(reverse("admin:merchants_application_decide", args=[app.pk]),
                           {"approve": "1", "comment": ""}, follow=True)
    app.refresh_from_db()
    assert app.status == Application.Status.APPROVED
    terminal = Terminal.objects.get(requisition_ref=app.reference)
    assert bytes(terminal.key).hex() in response.content.decode()  # shown on this page, once


def test_admin_edit_merchant_goes_through_the_service_with_audit(client, root, merchant, unit):
    from accounts.models import AuditLog

    client.force_login(root)
    response = client.post(reverse("admin:merchants_merchant_change", args=[merchant.pk]), {
        "name": merchant.name, "kind": merchant.kind, "internal": "on", "unit": unit.pk, "location": "二楼西侧",
        "settlement_months": 1, "bank_name": "建设银行", "bank_account_name": "后勤集团",
        "bank_account_no": "6227000000001111",
        "users-TOTAL_FORMS": 1, "users-INITIAL_FORMS": 1, "users-0-id": merchant.users.get().pk,
        "users-0-merchant": merchant.pk,
        "applications-TOTAL_FORMS": 0, "applications-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.content.decode()[:3000]
    merchant.refresh_from_db()
    assert merchant.location == "二楼西侧"  # edited; the bank fields are read-only here (M§42, a change form)
    assert merchant.bank_name == "工商银行" and merchant.bank_account_no == "6222020200001234567"
    assert AuditLog.objects.filter(action="merchant_update", actor=root).exists()
