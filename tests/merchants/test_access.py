"""The access application (U§5, M§37, R-MER-1): unit, then centre, then finance; the merchant
takes no cards until it is approved."""

import pytest

from accounts.errors import BusinessError, NotAllowed
from accounts.models import AuditLog
from merchants import services
from merchants.models import Application, ApprovalStep, ApproverRole, Merchant, MerchantKind
from terminals.services import terminal_add

from .conftest import approve_all

pytestmark = pytest.mark.django_db


def test_r_mer_1_apply_makes_a_pending_merchant_with_the_unit_centre_finance_chain(applied):
    merchant = applied.merchant
    assert merchant.status == Merchant.Status.PENDING
    assert not merchant.can_take_cards
    assert merchant.settlement_contact.user.username == "contact_p"
    assert merchant.unit.code == "HQ"
    assert list(applied.steps.values_list("role", flat=True)) == [ApproverRole.UNIT, ApproverRole.CENTRE,
                                                                   ApproverRole.FINANCE]
    assert applied.status == Application.Status.PENDING and applied.step == 0
    assert AuditLog.objects.filter(action="application_submit", data__application=applied.pk).exists()


def test_r_mer_1_pending_merchant_cannot_get_terminals(applied, root):
    with pytest.raises(BusinessError):
        terminal_add(actor=root, merchant=applied.merchant)


def test_r_mer_1_access_happy_path_activates(applied, officer, centre2, fin):
    app = approve_all(applied, officer, centre2, fin)
    assert app.status == Application.Status.APPROVED and app.decided_at
    merchant = Merchant.objects.get(pk=applied.merchant_id)
    assert merchant.status == Merchant.Status.ACTIVE and merchant.can_take_cards
    trail = list(app.steps.order_by("seq").values_list("role", "approver__username", "decision"))
    assert trail == [("unit", "officer_hq", "approve"), ("centre", "centre_b", "approve"),
                     ("finance", "fin_a", "approve")]
    assert AuditLog.objects.filter(action="merchant_status", data__new="active", data__merchant="C01").exists()
    assert AuditLog.objects.filter(action="application_decide", data__application=app.pk).count() == 3


@pytest.mark.parametrize("reject_at", [0, 1, 2])
def test_r_mer_1_access_rejected_at_any_step_stays_pending(applied, officer, centre2, fin, reject_at):
    people = [officer, centre2, fin]
    app = approve_all(applied, *people[:reject_at])
    app = services.application_decide(actor=people[reject_at], application=app, approve=False, comment="资料不全")
    assert app.status == Application.Status.REJECTED
    assert Merchant.objects.get(pk=applied.merchant_id).status == Merchant.Status.PENDING
    step = app.steps.get(seq=reject_at)
    assert step.decision == ApprovalStep.Decision.REJECT and step.comment == "资料不全"
    assert not app.steps.filter(seq__gt=reject_at).exclude(decision="").exists()
    with pytest.raises(BusinessError):  # a decided form is closed
        services.application_decide(actor=people[-1], application=app, approve=True)


def test_r_mer_1_rejected_access_may_be_submitted_again(applied, officer, applicant):
    services.application_decide(actor=officer, application=applied, approve=False, comment="补充材料")
    again = services.application_submit(actor=applicant, merchant=applied.merchant, kind="access",
                                        payload={"business_scope": "师生餐饮（补充）"})
    assert again.status == Application.Status.PENDING


def test_rejection_needs_a_reason(applied, officer):
    with pytest.raises(BusinessError):
        services.application_decide(actor=officer, application=applied, approve=False, comment=" ")


def test_r_mer_1_wrong_role_refused_at_each_step(applied, officer, centre2, fin, other_officer, applicant):
    # step 0 is the managing unit's: not the centre, not finance, not another unit's officer
    for person in (centre2, fin, other_officer, applicant):
        with pytest.raises(NotAllowed):
            services.application_decide(actor=person, application=applied, approve=True)
    app = approve_all(applied, officer)
    for person in (fin, other_officer):  # step 1 is the centre's
        with pytest.raises(NotAllowed):
            services.application_decide(actor=person, application=app, approve=True)
    app = approve_all(app, centre2)
    with pytest.raises(NotAllowed):  # step 2 is finance's
        services.application_decide(actor=centre2, application=app, approve=True)
    app.refresh_from_db()
    assert app.step == 2 and app.status == Application.Status.PENDING


def test_four_eyes_submitter_cannot_decide_and_one_person_one_box(applied, centre, officer, root):
    approve_all(applied, officer)
    with pytest.raises(NotAllowed):  # centre_a typed the form in; another centre member decides
        services.application_decide(actor=centre, application=applied, approve=True)
    approve_all(applied, root)  # a super admin holds every role…
    with pytest.raises(NotAllowed):  # …but signs only one box of a form
        services.application_decide(actor=root, application=applied, approve=True)


def test_r_mer_1_access_needs_a_contact_and_a_unit(root, unit, plain_user):
    m = services.merchant_create(actor=root, code="X1", name="无联系人", kind=MerchantKind.RETAIL, unit=unit,
                                 status=Merchant.Status.PENDING)
    with pytest.raises(BusinessError, match="contact"):
        services.application_submit(actor=root, merchant=m, kind="access", payload={"business_scope": "零售"})
    with pytest.raises(BusinessError, match="unit"):
        services.merchant_apply(actor=root, code="X2", name="无单位", kind=MerchantKind.RETAIL, unit=None,
                                contact=plain_user())


def test_access_only_for_a_pending_merchant_and_one_at_a_time(applied, merchant, contact_user, centre):
    with pytest.raises(BusinessError, match="open form"):
        services.application_submit(actor=centre, merchant=applied.merchant, kind="access",
                                    payload={"business_scope": "x"})
    with pytest.raises(BusinessError):  # already active
        services.application_submit(actor=contact_user, merchant=merchant, kind="access",
                                    payload={"business_scope": "x"})


def test_payload_is_validated_per_kind(applied, centre):
    m = applied.merchant
    with pytest.raises(BusinessError, match="business_scope"):
        services.application_submit(actor=centre, merchant=m, kind="access", payload={})
    with pytest.raises(BusinessError, match="Unknown fields"):
        services.application_submit(actor=centre, merchant=m, kind="access",
                                    payload={"business_scope": "x", "rogue": 1})
    with pytest.raises(BusinessError, match="Unknown form"):
        services.application_submit(actor=centre, merchant=m, kind="bribe", payload={})


def test_approving_after_the_merchant_changed_state_is_refused(applied, officer, centre2, fin, root):
    app = approve_all(applied, officer, centre2)
    Merchant.objects.filter(pk=app.merchant_id).update(status=Merchant.Status.REVOKED)
    with pytest.raises(BusinessError, match="reject"):
        services.application_decide(actor=fin, application=app, approve=True)
    app.refresh_from_db()
    assert app.status == Application.Status.PENDING and not app.steps.filter(seq=2).exclude(decision="").exists()
