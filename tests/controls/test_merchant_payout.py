"""M§42: a merchant's bank account and payee name change only through the approved business change
form (U§13: the centre, then finance). Before, card-centre staff could redirect a merchant's payout by
editing the record in the admin; the service let them, and any write to the table went through.

Tried every way around: the admin's change form (staff and super admin), the service, a raw UPDATE,
a transaction that names a form which is not an approved change form of this merchant, the API;
and the one way that works: the approved form."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.errors import NotAllowed
from accounts.models import AuditLog
from campuscard.api.services import api_client_create
from merchants import services
from merchants.models import Merchant, MerchantKind, MerchantUser
from tests.factories import UnitFactory

pytestmark = pytest.mark.django_db
PAYEE = {"bank_name": "工商银行", "bank_account_name": "后勤集团", "bank_account_no": "6222020200001234567"}
THIEF = {"bank_name": "农业银行", "bank_account_name": "张三", "bank_account_no": "6228480000009999"}


@pytest.fixture
def canteen(superuser):
    m = services.merchant_create(actor=superuser, code="D09", name="第九食堂", kind=MerchantKind.DINING,
                                 unit=UnitFactory(), **PAYEE)
    contact = get_user_model().objects.create_user("d09_contact", password="pw-d09")
    services.merchant_user_add(actor=superuser, merchant=m, user=contact, role=MerchantUser.Role.CONTACT)
    return m


def payee(merchant) -> dict:
    m = Merchant.objects.get(pk=merchant.pk)
    return {f: getattr(m, f) for f in PAYEE}


@pytest.mark.parametrize("who", ["staff", "superuser"])
def test_m42_the_admin_change_form_cannot_redirect_a_payout(client, request, who, canteen):
    user = request.getfixturevalue(who)
    client.force_login(user)
    url = reverse("admin:merchants_merchant_change", args=[canteen.pk])
    page = client.get(url).content.decode()
    assert 'name="bank_account_no"' not in page and "M§42" in page  # read-only, and it says why
    client.post(url, {"name": canteen.name, "kind": canteen.kind, "internal": "on", "unit": canteen.unit_id,
                      "location": "", "settlement_months": 1, **THIEF,
                      "users-TOTAL_FORMS": 0, "users-INITIAL_FORMS": 0,
                      "applications-TOTAL_FORMS": 0, "applications-INITIAL_FORMS": 0})
    assert payee(canteen) == PAYEE


@pytest.mark.parametrize("who", ["staff", "superuser"])
def test_m42_the_service_refuses_a_direct_change(request, who, canteen):
    with pytest.raises(NotAllowed, match="M§42"):
        services.merchant_update(actor=request.getfixturevalue(who), merchant=canteen, reason="x", **THIEF)
    assert payee(canteen) == PAYEE


def test_m42_the_database_refuses_any_other_write(canteen, superuser):
    for write in (lambda: Merchant.objects.filter(pk=canteen.pk).update(bank_account_no=THIEF["bank_account_no"]),
                  lambda: Merchant.objects.filter(pk=canteen.pk).update(bank_account_name="张三"),
                  lambda: _raw("UPDATE merchants_merchant SET bank_name = '农业银行' WHERE id = %s", canteen.pk)):
        with pytest.raises(IntegrityError, match="M§42"), transaction.atomic():
            write()
    # Naming a form that is no approved change form of this merchant (pending, or bogus) does not help.
    pending = services.application_submit(actor=get_user_model().objects.get(username="d09_contact"), merchant=canteen,
                                          kind="change", payload={"description": "换账户", **THIEF})
    for form_id in (str(pending.pk), "999999", "1; DROP TABLE x"):
        with pytest.raises(IntegrityError), transaction.atomic():
            _raw("SELECT set_config('campuscard.payout_change', %s, true)", form_id)
            Merchant.objects.filter(pk=canteen.pk).update(**THIEF)
    Merchant.objects.filter(pk=canteen.pk).update(location="二楼")  # other fields stay editable
    assert payee(canteen) == PAYEE


def _raw(sql, param):
    with connection.cursor() as cur:
        cur.execute(sql, [param])


def test_m42_no_api_writes_a_merchant(canteen, superuser):
    _client, token = api_client_create(actor=superuser, name="erp", scopes=["revenue:read", "settlements:read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    for url in ("/api/v1/merchants/D09/revenue/", "/api/v1/merchants/D09/settlements/", "/api/v1/merchants/D09/"):
        for method in ("post", "put", "patch"):
            assert getattr(api, method)(url, THIEF, format="json").status_code in (404, 405)
    assert payee(canteen) == PAYEE


def test_m42_the_approved_change_form_changes_it_and_only_to_what_it_says(canteen, staff, finance, make_user):
    contact = get_user_model().objects.get(username="d09_contact")
    new = {"bank_name": "建设银行", "bank_account_name": "后勤集团饮食中心", "bank_account_no": "6227000000001111"}
    app = services.application_submit(actor=contact, merchant=canteen, kind="change",
                                      payload={"description": "结算账户变更", **new})
    app = services.application_decide(actor=staff, application=app, approve=True, comment="核对无误")
    assert payee(canteen) == PAYEE  # the centre alone is not enough: finance agrees too (M§42)
    services.application_decide(actor=finance, application=app, approve=True, comment="同意")
    assert payee(canteen) == new
    log = AuditLog.objects.filter(action="merchant_update", data__application=app.pk).get()
    assert log.actor == finance and "6227000000001111" not in str(log.data)  # masked in the audit log
    # The approved form is no key for another value afterwards.
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw("SELECT set_config('campuscard.payout_change', %s, true)", str(app.pk))
        Merchant.objects.filter(pk=canteen.pk).update(bank_account_no=THIEF["bank_account_no"])
