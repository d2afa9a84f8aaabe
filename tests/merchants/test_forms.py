"""Every other form's approval path: device requisition (U§6), business change (U§13),
cancellation (U§15), fault report (U§16), offline authorisation (U§17), revocation (U§24)."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts.errors import BusinessError, NotAllowed
from merchants import services
from merchants.models import Application, ApproverRole, Merchant, MerchantUser
from terminals.models import OfflineAuthorisation, Terminal
from terminals.services import terminal_add

from .conftest import approve_all

pytestmark = pytest.mark.django_db
U, C, F = ApproverRole.UNIT, ApproverRole.CENTRE, ApproverRole.FINANCE


def chain(app):
    return list(app.steps.order_by("seq").values_list("role", flat=True))


@pytest.fixture
def terminal(merchant, root):
    return terminal_add(actor=root, merchant=merchant)[0]


@pytest.fixture
def cashier(merchant, root, plain_user):
    user = plain_user("cashier_a")
    services.merchant_user_add(actor=root, merchant=merchant, user=user, role=MerchantUser.Role.CASHIER)
    return user


def period(hours=4):
    start = timezone.now().replace(microsecond=0)
    return {"valid_from": start.isoformat(), "valid_to": (start + dt.timedelta(hours=hours)).isoformat()}


# --- device requisition (U§6, R-TERM-1, R-MER-2) ----------------------------------------------------

def test_r_term_1_device_requisition_unit_then_centre_registers_school_terminals(merchant, contact_user, officer,
                                                                                  centre2):
    app = services.application_submit(actor=contact_user, merchant=merchant, kind="device",
                                      payload={"count": 2, "purpose": "新增售饭窗口", "location": "一层"})
    assert chain(app) == [U, C]
    app = approve_all(app, officer, centre2)
    assert app.status == Application.Status.APPROVED
    terminals = Terminal.objects.filter(assignments__merchant=merchant, assignments__valid_to__isnull=True)
    assert terminals.count() == 2
    for t in terminals:
        assert t.owner == Terminal.Owner.SCHOOL  # R-MER-2: an internal merchant's terminals are free school assets
        assert t.requisition_ref == app.reference and t.location == "一层" and t.status == Terminal.Status.ACTIVE
    (outcome,) = app.outcome
    assert {tid for tid, _ in outcome["terminals"]} == set(terminals.values_list("pk", flat=True))
    assert all(len(bytes.fromhex(key)) == 32 for _, key in outcome["terminals"])  # shown once to staff


def test_r_mer_2_external_merchant_owns_its_requisitioned_terminals(root, unit, officer, centre2, plain_user):
    ext = services.merchant_create(actor=root, code="E01", name="校外超市", kind=3, internal=False, unit=unit)
    services.merchant_user_add(actor=root, merchant=ext, user=plain_user("ext_contact"), role="contact")
    app = services.application_submit(actor=root, merchant=ext, kind="device", payload={"count": 1, "purpose": "收银"})
    app = approve_all(app, officer, centre2)
    terminal = Terminal.objects.get(assignments__merchant=ext)
    assert terminal.owner == Terminal.Owner.MERCHANT and terminal.kind == 3


def test_device_requisition_rejected_registers_nothing(merchant, contact_user, officer, centre2):
    app = services.application_submit(actor=contact_user, merchant=merchant, kind="device",
                                      payload={"count": 1, "purpose": "x"})
    app = approve_all(app, officer)
    app = services.application_decide(actor=centre2, application=app, approve=False, comment="设备不足")
    assert app.status == Application.Status.REJECTED
    assert not Terminal.objects.filter(assignments__merchant=merchant).exists()


def test_device_requisition_wrong_role_refused(merchant, contact_user, officer, other_officer, fin, centre2):
    app = services.application_submit(actor=contact_user, merchant=merchant, kind="device",
                                      payload={"count": 1, "purpose": "x"})
    for person in (other_officer, fin, centre2):
        with pytest.raises(NotAllowed):
            services.application_decide(actor=person, application=app, approve=True)
    approve_all(app, officer)
    with pytest.raises(NotAllowed):
        services.application_decide(actor=fin, application=app, approve=True)


def test_cashier_cannot_requisition_and_pending_merchant_cannot(merchant, cashier, applied, centre):
    with pytest.raises(NotAllowed):
        services.application_submit(actor=cashier, merchant=merchant, kind="device", payload={"count": 1, "purpose": "x"})
    with pytest.raises(BusinessError):
        services.application_submit(actor=centre, merchant=applied.merchant, kind="device",
                                    payload={"count": 1, "purpose": "x"})


# --- business change (U§13, R-SET-1) -----------------------------------------------------------------

def test_business_change_needs_only_the_centre(merchant, contact_user, centre2):
    app = services.application_submit(actor=contact_user, merchant=merchant, kind="change",
                                      payload={"description": "更名", "name": "第二食堂（新）"})
    assert chain(app) == [C]
    approve_all(app, centre2)
    merchant.refresh_from_db()
    assert merchant.name == "第二食堂（新）"


def test_r_set_1_settlement_period_by_agreement_with_finance(merchant, contact_user, centre2, fin):
    assert merchant.settlement_months == 1  # monthly by default
    app = services.application_submit(actor=contact_user, merchant=merchant, kind="change",
                                      payload={"description": "按季度结算", "settlement_months": 3})
    assert chain(app) == [C, F]
    app = approve_all(app, centre2)
    merchant.refresh_from_db()
    assert merchant.settlement_months == 1  # not until finance agrees
    with pytest.raises(NotAllowed):
        services.application_decide(actor=centre2, application=app, approve=True)
    approve_all(app, fin)
    merchant.refresh_from_db()
    assert merchant.settlement_months == 3


def test_bank_account_change_rejected_by_finance_changes_nothing(merchant, contact_user, centre2, fin):
    app = services.application_submit(actor=contact_user, merchant=merchant, kind="change",
                                      payload={"description": "换账户", "bank_account_no": "6228480000009999"})
    app = approve_all(app, centre2)
    services.application_decide(actor=fin, application=app, approve=False, comment="账户名不符")
    merchant.refresh_from_db()
    assert merchant.bank_account_no == "6222020200001234567"


def test_change_payload_validated(merchant, contact_user):
    for bad in ({"description": "x", "settlement_months": 13}, {"description": "x", "bank_account_no": "12ab"}):
        with pytest.raises(BusinessError):
            services.application_submit(actor=contact_user, merchant=merchant, kind="change", payload=bad)


# --- cancellation (U§15) and revocation (U§24) stop the terminals -----------------------------------

def test_r_mer_1_cancellation_unit_centre_finance_closes_and_disables_terminals(merchant, terminal, contact_user,
                                                                                officer, centre2, fin):
    app = services.application_submit(actor=contact_user, merchant=merchant, kind="cancel",
                                      payload={"reason": "停止营业"})
    assert chain(app) == [U, C, F]
    app = approve_all(app, officer, centre2)
    terminal.refresh_from_db()
    assert terminal.status == Terminal.Status.ACTIVE  # not before the last approval
    app = approve_all(app, fin)
    merchant.refresh_from_db()
    terminal.refresh_from_db()
    assert merchant.status == Merchant.Status.CLOSED
    assert terminal.status == Terminal.Status.DISABLED
    assert app.outcome == [{"disabled": [terminal.pk]}]


def test_cancellation_rejected_keeps_trading(merchant, terminal, contact_user, officer):
    app = services.application_submit(actor=contact_user, merchant=merchant, kind="cancel", payload={"reason": "x"})
    services.application_decide(actor=officer, application=app, approve=False, comment="未结清")
    merchant.refresh_from_db()
    terminal.refresh_from_db()
    assert merchant.status == Merchant.Status.ACTIVE and terminal.status == Terminal.Status.ACTIVE


def test_r_mer_1_revocation_by_the_centre_then_finance_revokes_and_stops_terminals(merchant, root, centre, centre2,
                                                                                   fin):
    t1, _ = terminal_add(actor=root, merchant=merchant)
    t2, _ = terminal_add(actor=root, merchant=merchant)
    app = services.application_submit(actor=centre, merchant=merchant, kind="revoke", payload={"reason": "屡纠不正"})
    assert chain(app) == [C, F]
    with pytest.raises(NotAllowed):  # the one who started it does not approve it
        services.application_decide(actor=centre, application=app, approve=True)
    app = approve_all(app, centre2, fin)
    merchant.refresh_from_db()
    assert merchant.status == Merchant.Status.REVOKED and not merchant.can_take_cards
    assert set(Terminal.objects.filter(pk__in=[t1.pk, t2.pk]).values_list("status", flat=True)) == {"disabled"}
    with pytest.raises(BusinessError):  # a revoked merchant gets no new terminals
        terminal_add(actor=root, merchant=merchant)


def test_revocation_only_by_the_centre_and_rejected_by_finance(merchant, terminal, contact_user, fin, centre, centre2):
    with pytest.raises(NotAllowed):
        services.application_submit(actor=contact_user, merchant=merchant, kind="revoke", payload={"reason": "x"})
    with pytest.raises(NotAllowed):
        services.application_submit(actor=fin, merchant=merchant, kind="revoke", payload={"reason": "x"})
    app = services.application_submit(actor=centre, merchant=merchant, kind="revoke", payload={"reason": "x"})
    with pytest.raises(NotAllowed):
        services.application_decide(actor=fin, application=app, approve=True)  # the centre's box first
    app = approve_all(app, centre2)
    services.application_decide(actor=fin, application=app, approve=False, comment="证据不足")
    merchant.refresh_from_db()
    terminal.refresh_from_db()
    assert merchant.status == Merchant.Status.ACTIVE and terminal.status == Terminal.Status.ACTIVE


# --- fault report (U§16, R-TERM-4) ---------------------------------------------------------------------

def test_r_term_4_cashier_reports_a_fault_centre_confirms_and_takes_it_out(merchant, terminal, cashier, centre2):
    app = services.application_submit(actor=cashier, merchant=merchant, kind="fault", payload={
        "terminal_id": terminal.pk, "description": "读卡失败", "affects_charging": True, "take_out_of_service": True})
    assert chain(app) == [C]
    app = approve_all(app, centre2)
    terminal.refresh_from_db()
    assert app.status == Application.Status.APPROVED and terminal.status == Terminal.Status.DISABLED


def test_r_term_4_fault_report_rejected_or_wrong_role(merchant, terminal, cashier, fin, officer, centre2):
    app = services.application_submit(actor=cashier, merchant=merchant, kind="fault",
                                      payload={"terminal_id": terminal.pk, "description": "屏幕闪烁"})
    for person in (fin, officer):
        with pytest.raises(NotAllowed):
            services.application_decide(actor=person, application=app, approve=True)
    app = services.application_decide(actor=centre2, application=app, approve=False, comment="未发现故障")
    assert app.status == Application.Status.REJECTED


def test_r_term_4_fault_must_name_a_terminal_of_this_merchant(merchant, cashier, root, unit):
    other = services.merchant_create(actor=root, code="O1", name="他人", kind=3, unit=unit)
    foreign, _ = terminal_add(actor=root, merchant=other)
    with pytest.raises(BusinessError, match="does not serve"):
        services.application_submit(actor=cashier, merchant=merchant, kind="fault",
                                    payload={"terminal_id": foreign.pk, "description": "x"})


# --- offline authorisation (U§17, R-TERM-2) ------------------------------------------------------------

def test_r_term_2_offline_authorised_by_the_centre(merchant, terminal, contact_user, centre2):
    payload = {"terminal_id": terminal.pk, "reason": "网络施工", **period()}
    app = services.application_submit(actor=contact_user, merchant=merchant, kind="offline", payload=payload)
    assert chain(app) == [C]
    assert not OfflineAuthorisation.objects.filter(terminal=terminal).exists()
    app = approve_all(app, centre2)
    auth = OfflineAuthorisation.objects.get(terminal=terminal)
    assert auth.actor == centre2 and auth.valid_to - auth.valid_from == dt.timedelta(hours=4)
    assert app.reference in auth.reason


def test_r_term_2_offline_rejected_authorises_nothing(merchant, terminal, contact_user, centre2, fin):
    app = services.application_submit(actor=contact_user, merchant=merchant, kind="offline",
                                      payload={"terminal_id": terminal.pk, "reason": "x", **period()})
    with pytest.raises(NotAllowed):
        services.application_decide(actor=fin, application=app, approve=True)
    services.application_decide(actor=centre2, application=app, approve=False, comment="请报修网络")
    assert not OfflineAuthorisation.objects.filter(terminal=terminal).exists()


def test_r_term_2_offline_period_and_terminal_checked(merchant, terminal, contact_user, root):
    bad = period()
    bad["valid_from"], bad["valid_to"] = bad["valid_to"], bad["valid_from"]
    with pytest.raises(BusinessError):
        services.application_submit(actor=contact_user, merchant=merchant, kind="offline",
                                    payload={"terminal_id": terminal.pk, "reason": "x", **bad})
    from terminals.services import terminal_set_status

    terminal_set_status(actor=root, terminal=terminal, status="disabled", reason="检修")
    with pytest.raises(BusinessError, match="active"):
        services.application_submit(actor=contact_user, merchant=merchant, kind="offline",
                                    payload={"terminal_id": terminal.pk, "reason": "x", **period()})


def test_r_term_2_offline_refused_at_approval_if_the_terminal_moved(merchant, terminal, contact_user, centre2, root,
                                                                   unit):
    from terminals.services import terminal_assign

    app = services.application_submit(actor=contact_user, merchant=merchant, kind="offline",
                                      payload={"terminal_id": terminal.pk, "reason": "x", **period()})
    other = services.merchant_create(actor=root, code="O2", name="他人", kind=1, unit=unit)
    terminal_assign(actor=root, terminal=terminal, merchant=other)
    with pytest.raises(BusinessError, match="does not serve"):
        services.application_decide(actor=centre2, application=app, approve=True)
    app.refresh_from_db()
    assert app.status == Application.Status.PENDING  # the refusal rolled the approval back
    assert not OfflineAuthorisation.objects.exists()
