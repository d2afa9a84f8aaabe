"""Online top-up through a payment channel (WeChat Pay / Alipay style): create an order, the
holder pays on their phone (QR code at the kiosk), the channel notifies asynchronously; the host
may query; finance may refund. Every message is signed (moneyin.paysign, HMAC-SHA256); a notify
with a bad signature, a wrong amount, or for an order already credited changes nothing.
Money: payment channel clearing → the holder's purse as pending credit, source online-topup:<order>."""

from __future__ import annotations

import json
import logging
import urllib.request

from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import BusinessError
from accounts.ledger import journal_post
from accounts.models import Cardholder, Journal, LedgerAccount, Purse
from accounts.services import audit_write, permission_require, purse_credit_pending, system_account

from . import paysign
from .models import OnlineOrder

log = logging.getLogger(__name__)
ST = OnlineOrder.Status


class ChannelError(BusinessError):
    pass


def _call(path: str, params: dict) -> dict:
    """One signed call to the channel; its answer must carry a valid signature."""
    body = json.dumps(paysign.signed({k: str(v) for k, v in params.items()}, settings.PAY_CHANNEL_KEY)).encode()
    req = urllib.request.Request(settings.PAY_CHANNEL_URL + path, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            answer = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise ChannelError(_("The payment channel cannot be reached; try again later.")) from exc
    if not paysign.verify(answer, settings.PAY_CHANNEL_KEY):
        raise ChannelError(_("The payment channel's answer is not signed correctly."))
    if answer.get("return_code") != "SUCCESS":
        raise ChannelError(_("The payment channel refused: %(msg)s") % {"msg": answer.get("return_msg", "")[:100]})
    return answer


def online_order_create(*, holder: Cardholder, amount: int, channel: str = "kiosk") -> OnlineOrder:
    """Open an order for `amount` fen and ask the channel for its payment link (the QR code)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise BusinessError(_("The amount must be greater than zero."))
    if amount > settings.ONLINE_TOPUP_MAX_FEN:
        limit = settings.ONLINE_TOPUP_MAX_FEN
        raise BusinessError(_("An online top-up is at most %(limit)s yuan.") % {"limit": f"{limit // 100}.{limit % 100:02d}"})
    with transaction.atomic():
        holder = Cardholder.objects.select_for_update().get(pk=holder.pk)
        if holder.status != Cardholder.Status.ACTIVE:
            raise BusinessError(_("%(holder)s has a closed account.") % {"holder": holder})
        with connection.cursor() as cur:
            cur.execute("SELECT nextval('moneyin_bank_seq')")
            seq = cur.fetchone()[0]
        order = OnlineOrder.objects.create(out_trade_no=f"CC{seq:016d}", holder=holder, purse=holder.purse,
                                           amount=amount)
        audit_write(action="online_order_create", channel=channel, holder=holder, order=order.out_trade_no,
                    amount=amount)
    try:
        answer = _call("/v2/pay/create", {
            "out_trade_no": order.out_trade_no, "total_fee": amount, "body": "校园卡充值",
            "notify_url": settings.PAY_NOTIFY_BASE + reverse("moneyin:notify")})
    except ChannelError:
        OnlineOrder.objects.filter(pk=order.pk, status=ST.CREATED).update(status=ST.CLOSED)
        raise
    OnlineOrder.objects.filter(pk=order.pk).update(trade_no=answer.get("trade_no", "")[:32],
                                                   code_url=answer.get("code_url", "")[:200])
    order.refresh_from_db()
    return order


@transaction.atomic
def _credit(*, out_trade_no: str, total_fee: str, trade_no: str, via: str) -> str:
    order = OnlineOrder.objects.select_for_update().select_related("holder").filter(out_trade_no=out_trade_no).first()
    if order is None or total_fee != str(order.amount):
        audit_write(action="online_notify_refused", channel="system", order=out_trade_no[:32], via=via)
        return "refused"
    if order.status != ST.CREATED:
        order.ignored_notifies += 1
        order.save(update_fields=["ignored_notifies"])
        return "ignored"
    order.journal = purse_credit_pending(
        purse=order.purse, amount=order.amount, kind=Journal.Kind.ONLINE_TOPUP, source=f"online-topup:{order.out_trade_no}",
        from_account=system_account(LedgerAccount.Kind.CHANNEL), reason=f"在线充值 {order.out_trade_no}")
    order.status, order.paid_at, order.trade_no = ST.PAID, timezone.now(), trade_no[:32] or order.trade_no
    order.save(update_fields=["journal", "status", "paid_at", "trade_no"])
    audit_write(action="online_order_paid", channel="system", holder=order.holder, journal=order.journal,
                order=order.out_trade_no, amount=order.amount, via=via)
    return "credited"


def online_notify_apply(*, payload: dict) -> bool:
    """The channel's asynchronous notify. True acknowledges it (the channel stops sending): a good
    notify, or a repeat of one already applied. A bad signature or wrong amount is refused."""
    if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
        return False
    if not paysign.verify(payload, settings.PAY_CHANNEL_KEY):
        audit_write(action="online_notify_bad_sign", channel="system", order=str(payload.get("out_trade_no", ""))[:32])
        return False
    if payload.get("result_code") != "SUCCESS":
        return True
    return _credit(out_trade_no=payload.get("out_trade_no", ""), total_fee=payload.get("total_fee", ""),
                   trade_no=payload.get("trade_no", ""), via="notify") in ("credited", "ignored")


def online_order_query(*, order: OnlineOrder) -> OnlineOrder:
    """Ask the channel how the order stands (a lost notify): paid there, it is credited here once."""
    answer = _call("/v2/pay/query", {"out_trade_no": order.out_trade_no})
    if answer.get("trade_state") in ("SUCCESS", "REFUND"):
        _credit(out_trade_no=order.out_trade_no, total_fee=answer.get("total_fee", ""),
                trade_no=answer.get("trade_no", ""), via="query")
    order.refresh_from_db()
    return order


@transaction.atomic
def online_order_refund(*, actor, order: OnlineOrder, reason: str) -> OnlineOrder:
    """Give a paid top-up back through the channel: the purse is debited (its pending credit
    first) and the channel refunds the holder; both or neither (the refund number is the order's,
    so a retry after a lost answer is the same refund at the channel)."""
    permission_require(actor, "moneyin.refund_online")
    reason = (reason or "").strip()
    if not reason:
        raise BusinessError(_("A reason is required."))
    order = OnlineOrder.objects.select_for_update().select_related("holder").get(pk=order.pk)
    if order.status != ST.PAID:
        raise BusinessError(_("Only a paid top-up can be refunded; this one is %(status)s.") % {
            "status": order.get_status_display()})
    purse = Purse.objects.select_for_update(of=("self",)).select_related("account").get(pk=order.purse_id)
    journal = journal_post(kind=Journal.Kind.ONLINE_TOPUP, actor=actor, source=f"online-refund:{order.out_trade_no}",
                           reason=f"在线充值退款 {order.out_trade_no}: {reason}"[:200],
                           lines=[(purse.account, order.amount), (system_account(LedgerAccount.Kind.CHANNEL), -order.amount)])
    Purse.objects.filter(pk=purse.pk).update(pending=purse.pending - order.amount)
    _call("/v2/pay/refund", {"out_trade_no": order.out_trade_no, "out_refund_no": f"R{order.out_trade_no}",
                             "refund_fee": order.amount})
    order.status, order.refund_journal, order.refunded_at = ST.REFUNDED, journal, timezone.now()
    order.save(update_fields=["status", "refund_journal", "refunded_at"])
    audit_write(action="online_order_refund", actor=actor, holder=order.holder, journal=journal, reason=reason,
                order=order.out_trade_no, amount=order.amount)
    return order
