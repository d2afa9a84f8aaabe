"""Merchant portal pages: thin; every page is scoped to request.merchant (merchant_required)."""

from __future__ import annotations

import csv
import datetime as dt
from functools import wraps

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from accounts.formatting import yuan
from merchants.selectors import merchant_for_user
from terminals.models import Record

from . import selectors
from .charts import bar_chart

LOGIN_URL = reverse_lazy("portal:login")


def merchant_required(view):
    """A signed-in merchant user with the portal permission; request.merchant is its merchant.
    Staff and other logins get 403: the portal shows one merchant's data only (R-MER-4)."""

    @wraps(view)
    @login_required(login_url=LOGIN_URL)
    @never_cache
    def wrapper(request, *args, **kwargs):
        merchant = merchant_for_user(user=request.user)
        if merchant is None or not request.user.has_perm("merchants.use_portal"):
            raise PermissionDenied(_("This login is not a merchant user."))
        request.merchant = merchant
        return view(request, *args, **kwargs)

    return wrapper


class PortalLoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    redirect_authenticated_user = False
    next_page = reverse_lazy("portal:home")


def _terminal(request) -> int | None:
    raw = request.GET.get("terminal") or ""
    if not raw:
        return None
    if not raw.isdigit() or int(raw) not in selectors.terminal_ids(merchant=request.merchant):
        raise Http404  # another merchant's terminal looks like one that does not exist
    return int(raw)


@merchant_required
def home(request):
    terminal_id = _terminal(request)
    data = selectors.revenue_overview(merchant=request.merchant, terminal_id=terminal_id)
    days = bar_chart([(d["day"].strftime("%m-%d"), d["amount"]) for d in data["days"]])
    months = bar_chart([(m["month"].strftime("%Y-%m"), m["amount"]) for m in data["months"]])
    return render(request, "portal/home.html", {
        "merchant": request.merchant, "days": data["days"], "months": data["months"],
        "by_terminal": data["terminals"], "day_chart": days, "month_chart": months,
        "terminal_ids": selectors.terminal_ids(merchant=request.merchant), "terminal_id": terminal_id,
    })


def _detail_request(request):
    """(month, filters, refusal message) from the query string; only allowed months (U§10)."""
    allowed = selectors.detail_months()
    raw = request.GET.get("month") or allowed[0].strftime("%Y-%m")
    try:
        month = dt.datetime.strptime(raw, "%Y-%m").date()
    except ValueError:
        raise Http404 from None
    filters = {"terminal_id": _terminal(request), "card_no": None, "status": None}
    card = (request.GET.get("card") or "").strip()
    if card:
        if not card.isdigit():
            raise Http404
        filters["card_no"] = int(card)
    status = request.GET.get("status") or ""
    if status:
        if status not in Record.Status.values:
            raise Http404
        filters["status"] = status
    refused = ""
    if month not in allowed:
        refused = _("Online detail covers only the current and the previous month (U§10). For older detail "
                    "please apply to the campus card management centre, which can provide it.")
    return month, allowed, filters, refused


@merchant_required
def records(request):
    month, allowed, filters, refused = _detail_request(request)
    ctx = {"merchant": request.merchant, "month": month, "allowed": allowed, "refused": refused,
           "terminal_ids": selectors.terminal_ids(merchant=request.merchant), "statuses": Record.Status.choices,
           "filters": filters, "query": request.GET.urlencode()}
    if refused:
        return render(request, "portal/records.html", ctx, status=403)
    qs = selectors.records(merchant=request.merchant, month=month, **filters)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    ctx.update(page=page, total=sum(r.amount for r in qs) if page.paginator.count <= 100000 else None)
    return render(request, "portal/records.html", ctx)


@merchant_required
def records_csv(request):
    month, _allowed, filters, refused = _detail_request(request)
    if refused:
        return HttpResponse(refused, status=403, content_type="text/plain; charset=utf-8")
    qs = selectors.records(merchant=request.merchant, month=month, **filters)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"{request.merchant.code}-{month:%Y-%m}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response.write("\ufeff")  # Excel opens UTF-8 Chinese only with a BOM
    out = csv.writer(response)
    out.writerow([_("Time"), _("Terminal"), _("Sequence"), _("Card number"), _("Base amount (yuan)"),
                  _("Surcharge (yuan)"), _("Merchant amount (yuan)"), _("Status"), _("Problems")])
    for r in qs.iterator(chunk_size=2000):
        out.writerow([timezone.localtime(r.time).strftime("%Y-%m-%d %H:%M:%S"), r.terminal_id, r.term_seq, r.card_no,
                      yuan(r.base_amount), yuan(r.surcharge), yuan(r.amount), r.get_status_display(),
                      " ".join(r.problems or [])])
    return response


@merchant_required
def duplicates(request):
    rows = selectors.duplicate_suspects(merchant=request.merchant)
    return render(request, "portal/duplicates.html", {"merchant": request.merchant, "rows": rows[:500]})
