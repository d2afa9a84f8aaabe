"""The staff dashboard on the admin index."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts import services
from terminals.models import Terminal
from tests.accounts.helpers import formal_card

pytestmark = pytest.mark.django_db


def test_dashboard_shows_todays_records_lag_exceptions_terminals_frozen_and_chart(client, staff, two_merchants):
    card = formal_card(staff, number="2026000999")
    services.card_freeze(card=card, actor=staff, reason="卡库不平 test")
    services.card_report_loss(card=formal_card(staff, number="2026000998"), channel="kiosk")
    Terminal.objects.update(last_seen_at=timezone.now() - dt.timedelta(hours=1), blocklist_version=0)
    from accounts.models import BlockListEntry

    BlockListEntry.objects.update(at=timezone.now() - dt.timedelta(hours=1))
    client.force_login(staff)
    page = client.get("/admin/").content.decode()
    assert 'id="cc-dashboard"' in page
    a, b = two_merchants["A"]["records"], two_merchants["B"]["records"]
    today = [r for r in a + b if r.business_day == timezone.localdate()]
    amount = sum(r.base_amount + r.surcharge for r in today)
    assert f"¥{amount // 100}.{amount % 100:02d}" in page
    frozen = page.split('id="dash-frozen"')[1].split("</div>")[0]
    assert '<b class="big">1</b>' in frozen
    terminals = page.split('id="dash-terminals"')[1].split('id="dash-frozen"')[0]
    assert "<b>2</b>" in terminals  # both terminals silent and behind
    assert page.count("<rect") >= 30


def test_cash_operator_does_not_see_centre_figures(client, make_user):
    client.force_login(make_user("cash1", "cash_operator"))
    page = client.get("/admin/").content.decode()
    assert 'id="cc-dashboard"' not in page


def test_dashboard_counts_exception_records_by_kind(client, staff, two_merchants):
    rec = two_merchants["A"]["records"][0]
    type(rec).objects.filter(pk=rec.pk).update(status="exception", problems=["insufficient_host_balance"])
    client.force_login(staff)
    page = client.get("/admin/").content.decode()
    assert "交易：账户余额不足: 1" in page  # in words, not the code record:insufficient_host_balance
