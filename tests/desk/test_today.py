"""The desk's front page: tiles for today (losses, issues, deposits, terminals online x/N,
exceptions) that open their lists, and purchases by hour today beside yesterday."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts import services
from tests.accounts.helpers import fund
from tests.fronts.conftest import make_record

from .conftest import desk_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_day(clerk, cashier, freshman, make_user):
    from merchants.models import MerchantKind
    from merchants.services import merchant_create
    from terminals.models import Terminal
    from terminals.services import terminal_add

    root = make_user("root-t", "super_admin", is_superuser=True)
    card = services.card_issue_formal(actor=clerk, holder=freshman)
    fund(card, 10000, clerk)
    services.card_report_loss(card=card, channel="kiosk", reason="自助挂失")
    services.purse_deposit_cash(actor=cashier, holder=freshman, amount=2000, key=services.cash_deposit_key())
    canteen = merchant_create(actor=root, code="C9", name="第九食堂", kind=MerchantKind.DINING)
    online, _key = terminal_add(actor=root, merchant=canteen)
    offline, _key = terminal_add(actor=root, merchant=canteen)
    Terminal.objects.filter(pk=online.pk).update(last_seen_at=timezone.now(), location="一楼1号窗口")
    Terminal.objects.filter(pk=offline.pk).update(location="二楼3号窗口")
    now = timezone.now()
    make_record(online, canteen, 1, 1250, now, surcharge=150)
    make_record(online, canteen, 2, 900, now - dt.timedelta(days=1))
    make_record(online, canteen, 3, 700, now, status="exception", problems=["insufficient_host_balance"])
    return {"card": card, "online": online, "offline": offline}


def test_tiles_count_today_and_each_opens_its_list(client, clerk, busy_day, freshman):
    desk_client(client, clerk)
    page = client.get("/desk/")
    ctx = page.context
    assert ctx["losses"] == 1 and ctx["issues"] == 1 and ctx["deposits"] == {"count": 1, "amount": 2000}
    assert (ctx["terminals"]["online"], ctx["terminals"]["total"]) == (1, 2)
    assert ctx["exceptions"] == 1
    html = page.content.decode()
    for what in ("losses", "issues", "deposits", "terminals", "exceptions"):
        assert f'href="/desk/today/{what}/"' in html
    losses = client.get("/desk/today/losses/").content.decode()
    assert str(busy_day["card"].card_no) in losses and "自助终端" in losses and freshman.name in losses
    assert "20.00" in client.get("/desk/today/deposits/").content.decode()
    terminals = client.get("/desk/today/terminals/").content.decode()
    assert "二楼3号窗口" in terminals and "1/2" in terminals
    exceptions = client.get("/desk/today/exceptions/").content.decode()
    assert "账户余额不足" in exceptions and "insufficient_host_balance" not in exceptions
    assert client.get("/desk/today/nonsense/").status_code == 404


def test_hourly_chart_has_today_beside_yesterday(client, clerk, busy_day):
    chart = desk_client(client, clerk).get("/desk/").context["chart"]
    assert chart["today_total"] == "14.00" and chart["yesterday_total"] == "9.00"
    assert len(chart["bars"]) == 48 and {b["series"] for b in chart["bars"]} == {"today", "yesterday"}
    html = client.get("/desk/").content.decode()
    assert '<rect class="today"' in html and "<svg" in html


def test_a_cashier_sees_the_counter_and_their_own_cash_not_the_centre(client, cashier, busy_day):
    page = desk_client(client, cashier).get("/desk/")
    assert page.status_code == 200 and "losses" not in page.context and page.context["my_cash"]["movement"] == 2000
    assert client.get("/desk/today/losses/").status_code == 403


def test_the_holder_page_lists_records_in_yuan_with_merchant_and_terminal(client, clerk, busy_day, freshman):
    from terminals.models import Record

    Record.objects.update(card_no=busy_day["card"].card_no)
    html = desk_client(client, clerk).get(f"/desk/holders/{freshman.pk}/").content.decode()
    assert "第九食堂" in html and "一楼1号窗口" in html
    assert "12.50" in html and "1.50" in html and "14.00" in html  # price, surcharge, total as recorded
    assert "账户余额不足" in html
