"""The fee schedule (R-FEE-2, R-FEE-3): the school sets fees as data from a date on, through
services.fee_schedule_add with an audit entry; fees in force before are history."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from accounts import services
from accounts.errors import BusinessError, NotAllowed
from accounts.models import AuditLog, CardType, FeeSchedule
from tests.accounts.helpers import at, fast_password_hashing, formal_card  # noqa: F401
from tests.factories import UnitFactory

pytestmark = pytest.mark.django_db
NEW, REPL = FeeSchedule.Kind.NEW_CARD, FeeSchedule.Kind.REPLACEMENT


def _fees():
    return list(FeeSchedule.objects.order_by("pk").values_list("kind", "amount", "effective_from"))


def test_r_fee_2_a_new_fee_applies_from_its_date_and_is_audited(finance, staff):
    with time_machine.travel(at(2026, 5, 1), tick=False):
        fee = services.fee_schedule_add(actor=finance, kind=NEW, amount=3500, effective_from=dt.date(2026, 6, 1),
                                        reason="校长办公会 2026-04")
        assert services.fee_amount(NEW) == 3000  # not yet
        entry = AuditLog.objects.get(action="fee_schedule_add")
        assert entry.actor == finance and entry.reason == "校长办公会 2026-04"
        assert entry.data == {"kind": "new_card", "amount": 3500, "effective_from": "2026-06-01", "previous": 3000}
    with time_machine.travel(at(2026, 6, 1), tick=False):
        assert services.fee_amount(NEW) == fee.amount == 3500
        batch = services.card_batch_issue(actor=staff, unit=UnitFactory(), card_type=CardType.CONSUMPTION, quantity=2)
        assert batch.fee_total == 7000


def test_r_fee_3_replacement_fee_change_reaches_the_replacement(finance, staff):
    with time_machine.travel(at(2026, 5, 1), tick=False):
        services.fee_schedule_add(actor=finance, kind=REPL, amount=2000, effective_from=dt.date(2026, 5, 1),
                                  reason="lower")
        card = formal_card(staff)
        services.card_replace(card=card, actor=staff, reason="damaged")
    assert AuditLog.objects.get(action="card_replace").data["fee"] == 2000


def test_r_fee_2_a_fee_may_be_zero(finance):
    services.fee_schedule_add(actor=finance, kind=NEW, amount=0, effective_from=dt.date(2099, 1, 1), reason="waived")
    assert FeeSchedule.objects.get(effective_from=dt.date(2099, 1, 1)).amount == 0


@pytest.mark.parametrize("kwargs,message", [
    ({"kind": "gift"}, "Unknown fee"),
    ({"amount": -1}, "cannot be negative"),
    ({"amount": 12.5}, "whole number of fen"),
    ({"amount": "abc"}, "whole number of fen"),
    ({"effective_from": dt.date(2026, 4, 30)}, r"in the past \(2026-04-30\); the earliest is today, 2026-05-01"),
    ({"effective_from": "2026-06-01"}, "date it takes effect"),
    ({"effective_from": dt.date(2000, 1, 1)}, "in the past"),
    ({"reason": " "}, "reason is required"),
])
def test_r_fee_2_bad_fees_are_refused_and_nothing_changes(finance, kwargs, message):
    args = {"kind": NEW, "amount": 3500, "effective_from": dt.date(2026, 6, 1), "reason": "x", **kwargs}
    before = (_fees(), AuditLog.objects.count())
    with time_machine.travel(at(2026, 5, 1), tick=False), pytest.raises(BusinessError, match=message):
        services.fee_schedule_add(actor=finance, **args)
    assert (_fees(), AuditLog.objects.count()) == before


def test_r_fee_2_one_fee_per_kind_and_day(finance):
    services.fee_schedule_add(actor=finance, kind=NEW, amount=3500, effective_from=dt.date(2099, 1, 1), reason="x")
    with pytest.raises(BusinessError, match="already takes effect on 2099-01-01"):
        services.fee_schedule_add(actor=finance, kind=NEW, amount=4000, effective_from=dt.date(2099, 1, 1), reason="y")
    services.fee_schedule_add(actor=finance, kind=REPL, amount=4000, effective_from=dt.date(2099, 1, 1), reason="y")
    assert FeeSchedule.objects.filter(effective_from=dt.date(2099, 1, 1)).count() == 2


def test_r_fee_2_only_finance_sets_fees(staff):
    with pytest.raises(NotAllowed):
        services.fee_schedule_add(actor=staff, kind=NEW, amount=1, effective_from=dt.date(2099, 1, 1), reason="x")
    assert not AuditLog.objects.exists()


def test_r_fee_2_admin_adds_a_fee_through_the_service(client, finance):
    client.force_login(finance)
    url = reverse("admin:accounts_feeschedule_add")
    r = client.post(url, {"kind": "replacement", "amount_yuan": "25.50", "effective_from": "2099-03-01",
                          "reason": "board decision"})
    assert r.status_code == 302
    assert FeeSchedule.objects.get(effective_from="2099-03-01").amount == 2550
    assert AuditLog.objects.get(action="fee_schedule_add").data["amount"] == 2550


def test_r_fee_2_admin_shows_the_refusal_of_a_fee_in_the_past(client, finance):
    client.force_login(finance)
    before = (_fees(), AuditLog.objects.count())
    r = client.post(reverse("admin:accounts_feeschedule_add"),
                    {"kind": "new_card", "amount_yuan": "35.00", "effective_from": "2001-01-01", "reason": "late"})
    assert r.status_code == 200
    assert any("收费标准不能从过去的日期（2001-01-01）生效" in e for e in r.context["adminform"].form.non_field_errors())
    r = client.post(reverse("admin:accounts_feeschedule_add"),
                    {"kind": "new_card", "amount_yuan": "35.00", "effective_from": "2099-01-01", "reason": ""})
    assert r.status_code == 200 and "reason" in r.context["adminform"].form.errors
    assert (_fees(), AuditLog.objects.count()) == before
