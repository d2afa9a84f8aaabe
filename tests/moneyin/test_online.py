"""Online top-up (WeChat Pay / Alipay style) end to end over real sockets: the channel emulator in
its own process, its asynchronous notify reaching this site (live_server) over HTTP. Credited once
whatever the channel sends: a duplicate or replayed notify, a forged one (bad signature), a lost
one (the host queries). Refund through the channel."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from accounts.errors import BusinessError
from accounts.models import AuditLog, Journal, Purse
from moneyin import paysign
from moneyin.models import OnlineOrder
from moneyin.online import online_notify_apply, online_order_create, online_order_query, online_order_refund
from tests.accounts.helpers import formal_card

from .conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "test-channel-key"


@pytest.fixture(scope="module")
def channel_process():
    proc = subprocess.Popen([sys.executable, "-m", "moneyin.channel_emulator", "--port", "0", "--key", KEY],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line and line[0] == "LISTENING", line
    yield proc, f"http://{line[1]}"
    proc.terminate()
    proc.wait(5)


@pytest.fixture
def channel(channel_process, live_server, settings):
    proc, url = channel_process
    assert proc.poll() is None
    settings.PAY_CHANNEL_URL, settings.PAY_CHANNEL_KEY, settings.PAY_NOTIFY_BASE = url, KEY, live_server.url
    with urllib.request.urlopen(urllib.request.Request(url + "/ctl/reset", method="POST", data=b"{}"), timeout=5):
        pass

    def pay(order, fault=""):
        req = urllib.request.Request(url + "/ctl/pay", method="POST",
                                     data=json.dumps({"out_trade_no": order.out_trade_no, "fault": fault}).encode())
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read()) == {"ok": True}

    return pay


def wait_for(pred, seconds=5.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def purse(holder):
    return Purse.objects.select_related("account").get(holder=holder)


def test_online_topup_notify_credits_once_and_duplicate_changes_nothing(channel, staff):
    holder = formal_card(staff).holder
    order = online_order_create(holder=holder, amount=2500)
    assert order.status == "created" and order.code_url.startswith("http") and order.trade_no
    channel(order, "duplicate")
    assert wait_for(lambda: OnlineOrder.objects.get(pk=order.pk).ignored_notifies >= 1)
    order.refresh_from_db()
    assert order.status == "paid" and order.journal.kind == "online_topup"
    assert Journal.objects.filter(source=f"online-topup:{order.out_trade_no}").count() == 1
    p = purse(holder)
    assert (p.account.balance, p.pending) == (2500, 2500)


def test_online_topup_bad_signature_refused_then_the_genuine_one_counts(channel, staff):
    holder = formal_card(staff).holder
    order = online_order_create(holder=holder, amount=1000)
    channel(order, "bad_sign")  # a forged notify for 100 × the amount first
    assert wait_for(lambda: OnlineOrder.objects.get(pk=order.pk).status == "paid")
    assert purse(holder).account.balance == 1000
    assert AuditLog.objects.filter(action="online_notify_bad_sign").exists()


def test_online_topup_lost_notify_query_credits_once(channel, staff):
    holder = formal_card(staff).holder
    order = online_order_create(holder=holder, amount=800)
    assert online_order_query(order=order).status == "created"  # not paid yet: nothing
    channel(order, "lost")
    time.sleep(0.2)
    assert OnlineOrder.objects.get(pk=order.pk).status == "created"
    assert online_order_query(order=order).status == "paid"
    assert online_order_query(order=order).status == "paid"
    assert purse(holder).account.balance == 800
    assert Journal.objects.filter(source=f"online-topup:{order.out_trade_no}").count() == 1


def test_online_topup_replayed_and_forged_notify_over_http_change_nothing(channel, staff, live_server):
    holder = formal_card(staff).holder
    order = online_order_create(holder=holder, amount=600)
    channel(order)
    assert wait_for(lambda: OnlineOrder.objects.get(pk=order.pk).status == "paid")
    genuine = paysign.signed({"return_code": "SUCCESS", "result_code": "SUCCESS", "out_trade_no": order.out_trade_no,
                              "trade_no": order.trade_no, "total_fee": "600", "time_end": "20261205101010"}, KEY)

    def post(body):
        req = urllib.request.Request(live_server.url + "/moneyin/notify/", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())["return_code"]

    assert post(genuine) == "SUCCESS"  # a replay is acknowledged and changes nothing
    assert post({**genuine, "total_fee": "60000"}) == "FAIL"  # altered: signature fails
    assert post(paysign.signed({**genuine, "total_fee": "60000"}, "wrong-key")) == "FAIL"
    assert online_notify_apply(payload={"sign": ["not", "a", "string"]}) is False
    assert purse(holder).account.balance == 600
    assert OnlineOrder.objects.get(pk=order.pk).ignored_notifies >= 1


def test_online_topup_refund_through_the_channel(channel, staff, make_user):
    fin = make_user("fin_r", "finance")
    holder = formal_card(staff).holder
    order = online_order_create(holder=holder, amount=1500)
    channel(order)
    assert wait_for(lambda: OnlineOrder.objects.get(pk=order.pk).status == "paid")
    with pytest.raises(BusinessError):
        online_order_refund(actor=fin, order=order, reason="")
    order = online_order_refund(actor=fin, order=order, reason="持卡人申请退款")
    assert order.status == "refunded"
    p = purse(holder)
    assert (p.account.balance, p.pending) == (0, 0)
    with pytest.raises(BusinessError, match="Only a paid"):
        online_order_refund(actor=fin, order=order, reason="again")
    with pytest.raises(BusinessError):
        online_order_create(holder=holder, amount=0)


def test_online_topup_from_the_kiosk_with_a_qr_code(channel, staff, client):
    holder = formal_card(staff).holder
    session = client.session
    session["kiosk_holder"], session["kiosk_at"] = holder.pk, time.time()
    session.save()
    assert "/moneyin/kiosk/topup/" in client.get("/kiosk/cards/").content.decode()
    assert client.post("/moneyin/kiosk/topup/", {"amount": "abc"}).status_code == 200
    assert not OnlineOrder.objects.exists()
    r = client.post("/moneyin/kiosk/topup/", {"amount": "12.50"})
    order = OnlineOrder.objects.get()
    assert r.status_code == 302 and order.amount == 1250 and r["Location"].endswith(f"/{order.out_trade_no}/")
    page = client.get(r["Location"]).content.decode()
    assert "<svg" in page and 'id="check"' in page
    channel(order, "lost")
    assert 'id="paid"' in client.get(r["Location"] + "?check=1").content.decode()
    assert purse(holder).pending == 1250


def test_r_adj_1_channel_statement_every_difference_kind(channel, channel_process, staff, make_user):
    """The channel's statement against the online top-ups paid and refunded: matched, long, short,
    amount differs; each cleared by an adjustment another person approves; the bank card cannot be
    debited for a channel's difference."""
    from accounts import services
    from accounts.models import LedgerAccount
    from accounts.timeutil import business_day
    from moneyin.reconcile import difference_adjustment_request, statement_import

    fin_a, fin_b = make_user("fin_a", "finance"), make_user("fin_b", "finance")
    holder = formal_card(staff).holder
    orders = [online_order_create(holder=holder, amount=a) for a in (1000, 2000, 3000, 400)]
    for o in orders:
        channel(o, "lost")
        online_order_query(order=o)
    refunded = online_order_refund(actor=fin_a, order=orders[3], reason="退款")
    assert refunded.status == "refunded"
    day = business_day()
    with urllib.request.urlopen(f"{channel_process[1]}/ctl/statement?day={day}", timeout=5) as resp:
        lines = resp.read().decode().splitlines()
    assert lines[0] == "date,out_trade_no,trade_no,type,amount" and len(lines) == 6  # 4 pays, 1 refund
    by_no = {(ln.split(",")[1], ln.split(",")[3]): ln for ln in lines[1:]}
    ok, dropped, more, ref = orders
    rows = [by_no[(ok.out_trade_no, "pay")], by_no[(ref.out_trade_no, "pay")], by_no[(ref.out_trade_no, "refund")],
            by_no[(more.out_trade_no, "pay")].replace(",30.00", ",31.00"),
            f"{day},CC9999999999999999,4299,pay,5.00"]  # paid at the channel, no order of ours
    st = statement_import(actor=fin_a, day=day, source="channel", content="\n".join([lines[0], *rows]) + "\n")
    assert (st.matched, st.differences.count()) == (3, 3)
    diffs = {d.rrn: d for d in st.differences.all()}
    assert (diffs[dropped.out_trade_no].kind, diffs[dropped.out_trade_no].difference) == ("short", -2000)
    assert (diffs[more.out_trade_no].kind, diffs[more.out_trade_no].difference) == ("amount", 100)
    assert diffs["CC9999999999999999"].kind == "long" and diffs["CC9999999999999999"].holder is None
    channel_clearing = LedgerAccount.objects.get(kind="channel").balance
    assert channel_clearing == st.bank_total == 1000 + 400 - 400 + 3100 + 500
    with pytest.raises(BusinessError, match="cleared by"):
        difference_adjustment_request(actor=fin_a, difference=diffs[dropped.out_trade_no], kind="debit_bank_card",
                                      reason="x")
    with pytest.raises(BusinessError, match="no cardholder"):
        difference_adjustment_request(actor=fin_a, difference=diffs["CC9999999999999999"], kind="refund_holder",
                                      reason="x")
    for ref_no, kind in ((dropped.out_trade_no, "debit_campus_card"), (more.out_trade_no, "refund_holder")):
        req = difference_adjustment_request(actor=fin_a, difference=diffs[ref_no], kind=kind, reason="渠道对帐")
        services.adjustment_decide(actor=fin_b, request=req, approve=True)
    assert LedgerAccount.objects.get(kind="suspense").balance == -500  # the unknown payment, to ask the channel
