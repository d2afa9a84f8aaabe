"""The channel's notify endpoint and the kiosk's online top-up pages. Thin: parse, call one
service, render."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

import segno
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.errors import BusinessError
from accounts.kiosk.services import kiosk_idle_seconds
from accounts.kiosk.views import _holder as kiosk_holder  # the kiosk's signed-in holder and idle limit

from . import online
from .models import OnlineOrder


@csrf_exempt  # the channel signs its notify (moneyin.paysign); it has no session or CSRF token
@require_POST
def notify(request):
    try:
        payload = json.loads(request.body)
    except ValueError:
        payload = None
    ok = online.online_notify_apply(payload=payload)
    return JsonResponse({"return_code": "SUCCESS" if ok else "FAIL"})


def _render(request, template, ctx):
    return render(request, template, {"idle_seconds": kiosk_idle_seconds(), **ctx})


@never_cache
@require_http_methods(["GET", "POST"])
def kiosk_topup(request):
    holder = kiosk_holder(request)
    if holder is None:
        return redirect("/kiosk/?timeout=1")
    error = ""
    if request.method == "POST":
        try:
            fen = Decimal(request.POST.get("amount", "")) * 100
            if fen != fen.to_integral_value():
                raise InvalidOperation
            order = online.online_order_create(holder=holder, amount=int(fen))
        except (InvalidOperation, ValueError):
            error = _("Type an amount in yuan, with at most two decimals.")
        except BusinessError as exc:
            error = str(exc)
        else:
            return redirect("moneyin:kiosk_order", out_trade_no=order.out_trade_no)
    return _render(request, "moneyin/kiosk/topup.html", {
        "holder": holder, "error": error, "amounts": ["50", "100", "200"],
        "orders": OnlineOrder.objects.filter(holder=holder).order_by("-id")[:5]})


@never_cache
def kiosk_order(request, out_trade_no: str):
    holder = kiosk_holder(request)
    if holder is None:
        return redirect("/kiosk/?timeout=1")
    order = get_object_or_404(OnlineOrder, out_trade_no=out_trade_no, holder=holder)
    error = ""
    if order.status == OnlineOrder.Status.CREATED and request.GET.get("check"):
        try:
            order = online.online_order_query(order=order)
        except BusinessError as exc:
            error = str(exc)
    qr = segno.make(order.code_url, error="m").svg_inline(scale=6) if order.code_url else ""
    if order.status not in OnlineOrder.Status.values:
        raise Http404
    return _render(request, "moneyin/kiosk/order.html", {"holder": holder, "order": order, "qr": qr, "error": error})
