"""Units and their batch agents (R-ISSUE-2): written through services with audit, and an agent
applies for batches of their own unit only; the card centre for any unit."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts import services
from accounts.errors import BusinessError, NotAllowed
from accounts.models import AuditLog, Card, CardType, IssueBatch, Unit, UnitAgent
from tests.accounts.helpers import fast_password_hashing, snapshot, unit_agent  # noqa: F401
from tests.factories import UnitFactory

pytestmark = pytest.mark.django_db


# --- services -----------------------------------------------------------------------

def test_unit_create_and_update_are_audited(staff):
    unit = services.unit_create(actor=staff, code=" CS ", name=" 计算机学院 ", reason="new college")
    assert (unit.code, unit.name) == ("CS", "计算机学院")
    created = AuditLog.objects.get(action="unit_create")
    assert created.actor == staff and created.reason == "new college" and created.data == {"unit": "CS", "name": "计算机学院"}
    services.unit_update(actor=staff, unit=unit, name="计算机科学与技术学院", reason="renamed")
    unit.refresh_from_db()
    assert unit.name == "计算机科学与技术学院"
    assert AuditLog.objects.get(action="unit_update").data == {
        "unit": "CS", "changed": {"name": ["计算机学院", "计算机科学与技术学院"]}}


def test_unit_update_without_a_change_writes_no_audit(staff):
    unit = UnitFactory()
    services.unit_update(actor=staff, unit=unit, code=unit.code, name=unit.name)
    assert not AuditLog.objects.filter(action="unit_update").exists()


@pytest.mark.parametrize("code,name,message", [
    ("", "X", "needs a code"), ("X1", "  ", "needs a name"), ("u001", "dup", "already exists"),
])
def test_bad_units_are_refused_and_nothing_changes(staff, code, name, message):
    UnitFactory(code="U001")
    before = (list(Unit.objects.values_list("code", "name")), AuditLog.objects.count())
    with pytest.raises(BusinessError, match=message):
        services.unit_create(actor=staff, code=code, name=name)
    assert (list(Unit.objects.values_list("code", "name")), AuditLog.objects.count()) == before


def test_units_need_the_permission(finance):
    with pytest.raises(NotAllowed):
        services.unit_create(actor=finance, code="X", name="X")
    with pytest.raises(NotAllowed):
        services.unit_update(actor=finance, unit=UnitFactory(), name="Y")
    assert not AuditLog.objects.exists()


def test_r_issue_2_agents_are_tied_to_one_unit_with_audit(staff, make_user):
    a, b = UnitFactory(), UnitFactory()
    agent = make_user("agent1", "unit_agent")
    services.unit_agents_set(actor=staff, unit=a, users=[agent], reason="appointed")
    assert UnitAgent.objects.get(user=agent).unit == a
    entry = AuditLog.objects.get(action="unit_agents_set")
    assert entry.actor == staff and entry.data == {"unit": a.code, "added": ["agent1"], "removed": []}
    with pytest.raises(BusinessError, match="already the batch agent of"):
        services.unit_agents_set(actor=staff, unit=b, users=[agent])
    services.unit_agents_set(actor=staff, unit=a, users=[], reason="left the unit")
    assert not UnitAgent.objects.exists()
    services.unit_agents_set(actor=staff, unit=b, users=[agent])
    assert UnitAgent.objects.get(user=agent).unit == b


def test_r_issue_2_only_unit_agents_can_be_tied(staff, finance):
    with pytest.raises(BusinessError, match="does not hold the unit batch agent role"):
        services.unit_agents_set(actor=staff, unit=UnitFactory(), users=[finance])
    assert not UnitAgent.objects.exists()


def test_r_issue_2_agent_imports_only_for_their_own_unit(staff, make_user):
    own, other = UnitFactory(), UnitFactory()
    agent = unit_agent(make_user, "agent1", own, by=staff)
    before = snapshot()
    with pytest.raises(NotAllowed, match="batch agent of"):
        services.card_batch_issue(actor=agent, unit=other, card_type=CardType.CONSUMPTION, quantity=1)
    assert snapshot() == before
    batch = services.card_batch_issue(actor=agent, unit=own, card_type=CardType.CONSUMPTION, quantity=1)
    assert batch.unit == own and batch.actor == agent


def test_r_issue_2_an_agent_not_tied_to_a_unit_imports_nothing(make_user):
    agent = make_user("agent1", "unit_agent")
    before = snapshot()
    with pytest.raises(NotAllowed, match="card centre or the unit's own batch agent"):
        services.card_batch_issue(actor=agent, unit=UnitFactory(), card_type=CardType.CONSUMPTION, quantity=1)
    assert snapshot() == before
    assert not services.batch_units_for(agent).exists()


def test_r_issue_2_card_centre_imports_for_any_unit(staff, finance):
    a, b = UnitFactory(), UnitFactory()
    assert set(services.batch_units_for(staff)) == {a, b}
    assert not services.batch_units_for(finance).exists()  # no import_batch
    for unit in (a, b):
        services.card_batch_issue(actor=staff, unit=unit, card_type=CardType.CONSUMPTION, quantity=1)
    assert IssueBatch.objects.count() == 2


# --- admin ----------------------------------------------------------------------------

def _unit_post(client, url, **data):
    return client.post(url, {"code": "", "name": "", "change_reason": "", **data})


def test_unit_admin_saves_through_the_services(client, staff, make_user):
    agent = make_user("agent1", "unit_agent")
    client.force_login(staff)
    r = _unit_post(client, reverse("admin:accounts_unit_add"), code="MATH", name="数学学院", agents=[agent.pk],
                   change_reason="new school")
    assert r.status_code == 302, r.context["adminform"].form.errors
    unit = Unit.objects.get(code="MATH")
    assert UnitAgent.objects.get(user=agent).unit == unit
    assert [e.action for e in AuditLog.objects.order_by("id")] == ["unit_create", "unit_agents_set"]
    url = reverse("admin:accounts_unit_change", args=[unit.pk])
    r = _unit_post(client, url, code="MATH", name="数学科学学院", change_reason="renamed")
    assert r.status_code == 302
    unit.refresh_from_db()
    assert unit.name == "数学科学学院" and not UnitAgent.objects.exists()  # agent box unticked
    assert AuditLog.objects.filter(action="unit_update", reason="renamed").exists()
    assert AuditLog.objects.filter(action="unit_agents_set", data__removed=["agent1"]).exists()


def test_unit_admin_offers_only_free_agents_and_shows_a_refusal(client, staff, make_user):
    a, b = UnitFactory(), UnitFactory()
    tied = unit_agent(make_user, "agent1", a, by=staff)
    free = make_user("agent2", "unit_agent")
    client.force_login(staff)
    form = client.get(reverse("admin:accounts_unit_change", args=[b.pk])).context["adminform"].form
    assert set(form.fields["agents"].queryset) == {free}
    form = client.get(reverse("admin:accounts_unit_change", args=[a.pk])).context["adminform"].form
    assert set(form.fields["agents"].queryset) == {tied, free}
    assert form.initial["agents"] == [tied.pk]
    # A duplicate code (case aside) is refused by the service; the form shows why and nothing changes.
    r = _unit_post(client, reverse("admin:accounts_unit_change", args=[b.pk]), code=a.code.lower(), name="x")
    assert r.status_code == 200
    assert any("已存在" in e for e in r.context["adminform"].form.non_field_errors())
    b.refresh_from_db()
    assert b.name != "x"


def _csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("batch.csv", text.encode("utf-8"), content_type="text/csv")


def test_r_issue_2_import_page_offers_an_agent_only_their_unit(client, staff, make_user):
    own, other = UnitFactory(), UnitFactory()
    agent = unit_agent(make_user, "agent1", own, by=staff)
    client.force_login(agent)
    url = reverse("admin:accounts_issuebatch_import")
    form = client.get(url).context["form"]
    assert list(form.fields["unit"].queryset) == [own] and form.fields["unit"].initial == own.pk
    r = client.post(url, {"unit": other.pk, "card_type": "3", "quantity": "2", "fee_payment": "bank"})
    assert r.status_code == 200 and "unit" in r.context["form"].errors
    assert not Card.objects.exists()
    r = client.post(url, {"unit": own.pk, "card_type": "2", "fee_payment": "bank",
                          "file": _csv("number,name,category,end_date\nA1,张三,contract_staff,2030-01-01\n")})
    assert r.status_code == 302
    assert IssueBatch.objects.get().unit == own and Card.objects.get().holder.number == "A1"


def test_r_issue_2_agent_sees_only_their_units_batches(client, staff, make_user):
    own, other = UnitFactory(), UnitFactory()
    mine = services.card_batch_issue(actor=staff, unit=own, card_type=CardType.CONSUMPTION, quantity=1)
    theirs = services.card_batch_issue(actor=staff, unit=other, card_type=CardType.CONSUMPTION, quantity=1)
    agent = unit_agent(make_user, "agent1", own, by=staff)
    client.force_login(agent)
    assert list(client.get(reverse("admin:accounts_issuebatch_changelist")).context["cl"].result_list) == [mine]
    assert client.get(reverse("admin:accounts_issuebatch_change", args=[theirs.pk])).status_code == 302  # not found
    client.force_login(staff)
    assert len(client.get(reverse("admin:accounts_issuebatch_changelist")).context["cl"].result_list) == 2


def test_r_issue_2_untied_agent_is_told_to_ask_the_centre(client, make_user):
    agent = make_user("agent1", "unit_agent")
    client.force_login(agent)
    r = client.get(reverse("admin:accounts_issuebatch_import"), HTTP_ACCEPT_LANGUAGE="en")
    assert not r.context["form"].fields["unit"].queryset.exists()
    assert any("not the batch agent of any unit" in str(m) for m in r.context["messages"])
