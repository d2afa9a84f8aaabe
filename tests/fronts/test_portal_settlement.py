"""Merchant portal: its own settlement statements (list, detail, PDF/XLSX), the application in
the 11th–20th window (U§11, R-SET-3), correction forms (U§9, R-MER-3) and confirming refunds of
suspected duplicates (R-DUP-1). Another merchant's ids are 404 on every page (R-MER-4)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone
from openpyxl import load_workbook

from accounts.errors import NotAllowed
from accounts.models import AuditLog, CardType
from accounts.timeutil import BUSINESS_TZ
from merchants.models import MerchantKind
from merchants.services import merchant_user_add
from settlement import services
from settlement.models import Correction, Refund, Statement
from terminals.models import Record
from tests.settlement.conftest import till  # noqa: F401
from tests.terminals.conftest import admin_user, funded_card, make_terminal, merchants, rates  # noqa: F401

pytestmark = pytest.mark.django_db

JAN = (dt.date(2026, 1, 1), dt.date(2026, 1, 31))


def login(client, username):
    assert client.post("/merchant/login/", {"username": username, "password": f"pw-{username}"}).status_code == 302


def at(day: dt.date, hour: int = 10):
    return dt.datetime.combine(day, dt.time(hour), BUSINESS_TZ)


@pytest.fixture
def statements(two_merchants):
    """January statements for A (net 1234.56) and B (net 9876.54), computed, not applied for."""
    out = {}
    for label, net in (("A", 123456), ("B", 987654)):
        out[label] = Statement.objects.create(
            merchant=two_merchants[label]["merchant"], period_start=JAN[0], period_end=JAN[1], purchases=10,
            consumption=net + 620, fee_base=net + 620, fee=620, net=net, computed_at=timezone.now())
    return out


def test_r_mer_4_statements_list_shows_own_only(client, statements):
    login(client, "mer_a")
    page = client.get("/merchant/statements/").content.decode()
    assert f'id="statement-{statements["A"].pk}"' in page and "1234.56" in page
    assert f'id="statement-{statements["B"].pk}"' not in page and "9876.54" not in page


def test_statement_detail_in_yuan_with_window(client, statements):
    login(client, "mer_a")
    with time_machine.travel(at(dt.date(2026, 2, 3)), tick=False):
        page = client.get(f"/merchant/statements/{statements['A'].pk}/").content.decode()
    assert "1234.56" in page and "6.20" in page and "2026-02-11" in page and "2026-02-20" in page
    assert 'id="apply-button"' not in page  # before the window (U§11)


def test_r_set_3_merchant_applies_between_the_11th_and_the_20th(client, statements, two_merchants):
    st = statements["A"]
    login(client, "mer_a")
    with time_machine.travel(at(dt.date(2026, 2, 15)), tick=False):
        page = client.get(f"/merchant/statements/{st.pk}/").content.decode()
        assert 'id="apply-button"' in page
        resp = client.post(f"/merchant/statements/{st.pk}/apply/", follow=True)
    st.refresh_from_db()
    assert st.status == Statement.Status.APPLIED and not st.applied_late
    assert st.applied_by == two_merchants["A"]["user"]
    assert 'class="ok"' in resp.content.decode()
    assert AuditLog.objects.filter(action="statement_apply", actor=two_merchants["A"]["user"]).exists()


def test_r_set_3_application_before_the_window_is_refused_after_it_is_late(client, statements):
    st = statements["A"]
    login(client, "mer_a")
    with time_machine.travel(at(dt.date(2026, 2, 10)), tick=False):
        resp = client.post(f"/merchant/statements/{st.pk}/apply/", follow=True)
    st.refresh_from_db()
    assert st.status == Statement.Status.OPEN and 'class="error"' in resp.content.decode()
    with time_machine.travel(at(dt.date(2026, 2, 25)), tick=False):
        login(client, "mer_a")  # the session idled out over the fortnight
        client.post(f"/merchant/statements/{st.pk}/apply/")
    st.refresh_from_db()
    assert st.status == Statement.Status.APPLIED and st.applied_late


def test_r_mer_4_another_merchants_statement_is_404_everywhere(client, statements):
    b = statements["B"]
    login(client, "mer_a")
    for url in (f"/merchant/statements/{b.pk}/", f"/merchant/statements/{b.pk}/statement.pdf",
                f"/merchant/statements/{b.pk}/statement.xlsx"):
        assert client.get(url).status_code == 404, url
    with time_machine.travel(at(dt.date(2026, 2, 15)), tick=False):
        assert client.post(f"/merchant/statements/{b.pk}/apply/").status_code == 404
    b.refresh_from_db()
    assert b.status == Statement.Status.OPEN


def test_r_mer_4_service_refuses_a_merchant_user_applying_for_another_merchant(statements, two_merchants):
    with pytest.raises(NotAllowed):
        services.statement_apply(actor=two_merchants["A"]["user"], statement=statements["B"], today=dt.date(2026, 2, 15))
    statements["B"].refresh_from_db()
    assert statements["B"].status == Statement.Status.OPEN


def test_statement_downloads_open_and_show_yuan(client, statements):
    login(client, "mer_a")
    pdf = client.get(f"/merchant/statements/{statements['A'].pk}/statement.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and b"%%EOF" in pdf.content[-64:]
    xlsx = client.get(f"/merchant/statements/{statements['A'].pk}/statement.xlsx")
    assert "attachment" in xlsx["Content-Disposition"] and "MA" in xlsx["Content-Disposition"]
    cells = [c.value for row in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows() for c in row]
    text = " ".join(str(c) for c in cells if c is not None)
    assert "1234.56" in text and "9876.54" not in text
    assert client.get(f"/merchant/statements/{statements['A'].pk}/statement.exe").status_code == 404


# --- correction forms (U§9) ------------------------------------------------------------------

def test_r_mer_3_merchant_sends_a_correction_form_for_its_own_record(client, two_merchants):
    rec = two_merchants["A"]["records"][0]
    login(client, "mer_a")
    assert f"?record={rec.pk}" in client.get("/merchant/records/").content.decode()
    assert client.get(f"/merchant/corrections/new/?record={rec.pk}").status_code == 200
    half = client.post("/merchant/corrections/new/", {"record": rec.pk, "amount": "2.50", "reason": "多按了一次",
                                                      "merchant_confirmed": "on"})
    assert half.status_code == 200 and not Correction.objects.exists()  # the holder must confirm too
    resp = client.post("/merchant/corrections/new/", {"record": rec.pk, "amount": "2.50", "reason": "多按了一次",
                                                      "merchant_confirmed": "on", "holder_confirmed": "on"})
    assert resp.status_code == 302
    corr = Correction.objects.get()
    assert (corr.record_id, corr.amount, corr.merchant) == (rec.pk, 250, two_merchants["A"]["merchant"])
    page = client.get("/merchant/corrections/").content.decode()
    assert f'id="correction-{corr.pk}"' in page and "2.50" in page


def test_r_mer_3_correction_over_the_charge_is_refused_on_the_form(client, two_merchants):
    rec = two_merchants["A"]["records"][0]
    login(client, "mer_a")
    resp = client.post("/merchant/corrections/new/", {"record": rec.pk, "amount": "999.00", "reason": "x",
                                                      "merchant_confirmed": "on", "holder_confirmed": "on"})
    assert resp.status_code == 200 and 'class="error"' in resp.content.decode()
    assert not Correction.objects.exists()


def test_r_mer_4_correction_of_another_merchants_record_is_404(client, two_merchants, make_user):
    b_rec = two_merchants["B"]["records"][0]
    login(client, "mer_a")
    assert client.get(f"/merchant/corrections/new/?record={b_rec.pk}").status_code == 404
    assert client.post("/merchant/corrections/new/", {"record": b_rec.pk, "amount": "1.00", "reason": "x",
                                                      "merchant_confirmed": "on", "holder_confirmed": "on"}).status_code == 404
    assert client.get("/merchant/corrections/new/?record=abc").status_code == 404
    assert not Correction.objects.exists()
    # B's own forms never show to A.
    services.correction_request(actor=two_merchants["B"]["user"], record=b_rec, amount=100, reason="b",
                                merchant_confirmed=True, holder_confirmed=True)
    assert "correction-" not in client.get("/merchant/corrections/").content.decode().replace('id="corrections"', "")


def test_r_mer_4_correction_service_refuses_another_merchants_record(two_merchants):
    with pytest.raises(NotAllowed):
        services.correction_request(actor=two_merchants["A"]["user"], record=two_merchants["B"]["records"][0],
                                    amount=100, reason="x", merchant_confirmed=True, holder_confirmed=True)


# --- confirming refunds of suspected duplicates (R-DUP-1) -------------------------------------

@pytest.fixture
def duplicate(till, funded_card, merchants, admin_user):  # noqa: F811
    """A dining merchant's real duplicate charge (through intake and posting) and its user mer_d."""
    t = till(MerchantKind.DINING)
    card = t.card(funded_card(10000, card_type=CardType.CONSUMPTION))
    t.send([t.purchase(card, 400, 60), t.purchase(card, 400, 60)])
    dup = Record.objects.filter(terminal=t.terminal).order_by("term_seq").last()
    assert "suspected_duplicate" in dup.problems
    user = get_user_model().objects.create_user(username="mer_d", password="pw-mer_d")
    merchant_user_add(actor=admin_user, merchant=merchants[MerchantKind.DINING], user=user, role="contact")
    other = get_user_model().objects.create_user(username="mer_r", password="pw-mer_r")
    merchant_user_add(actor=admin_user, merchant=merchants[MerchantKind.RETAIL], user=other, role="contact")
    return dup


def test_r_dup_1_merchant_confirms_a_duplicate_refund(client, duplicate):
    login(client, "mer_d")
    page = client.get("/merchant/duplicates/").content.decode()
    assert f'id="dup-{duplicate.pk}"' in page and "Confirm refund" not in page  # Chinese by default
    assert client.post(f"/merchant/duplicates/{duplicate.pk}/refund/", {"reason": ""}).status_code == 302
    assert not Refund.objects.exists()
    resp = client.post(f"/merchant/duplicates/{duplicate.pk}/refund/", {"reason": "同一餐刷了两次"}, follow=True)
    refund = Refund.objects.get()
    assert (refund.record_id, refund.from_merchant, refund.from_surcharge) == (duplicate.pk, 400, 60)
    assert "4.60" in resp.content.decode()
    again = client.get("/merchant/duplicates/").content.decode()
    assert f'action="/merchant/duplicates/{duplicate.pk}/refund/"' not in again


def test_r_mer_4_another_merchant_cannot_refund_the_duplicate(client, duplicate):
    login(client, "mer_r")
    assert client.post(f"/merchant/duplicates/{duplicate.pk}/refund/", {"reason": "x"}).status_code == 404
    with pytest.raises(NotAllowed):
        services.duplicate_refund_confirm(actor=get_user_model().objects.get(username="mer_r"), record=duplicate,
                                          reason="x")
    assert not Refund.objects.exists()
