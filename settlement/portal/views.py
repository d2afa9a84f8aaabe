"""Merchant portal pages: thin; every page is scoped to request.merchant (merchant_required)."""

from __future__ import annotations

import csv
from functools import wraps

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.errors import BusinessError, NotAllowed
from accounts.formatting import yuan
from accounts.parsing import card_no_param, int_param, month_param
from accounts.timeutil import business_day
from merchants.selectors import merchant_for_user
from terminals.models import Record

from .. import services
from ..reports import CONTENT_TYPES, csv_safe
from . import selectors
from .charts import bar_chart
from .files import statement_file
from .forms import CorrectionForm, ReasonForm

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
    terminal_id = int_param(raw)
    if terminal_id is None or terminal_id not in selectors.terminal_ids(merchant=request.merchant):
        raise Http404  # another merchant's terminal looks like one that does not exist
    return terminal_id


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
    month = month_param(raw)
    if month is None:
        raise Http404
    filters = {"terminal_id": _terminal(request), "card_no": None, "status": None}
    card = (request.GET.get("card") or "").strip()
    if card:
        filters["card_no"] = card_no_param(card)
        if filters["card_no"] is None:
            raise Http404
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
    # summed by the database, not by loading every record of the month (a canteen's: ~20,000)
    ctx.update(page=page, total=qs.aggregate(total=Sum("amount"))["total"] or 0)
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
                  _("Surcharge (yuan)"), _("Consumption settled (yuan)"), _("Held out (yuan)"), _("Status"),
                  _("Problems")])
    for r in qs.iterator(chunk_size=2000):
        # Text cells escaped like every other download: a spreadsheet must never run one as a formula.
        out.writerow([timezone.localtime(r.time).strftime("%Y-%m-%d %H:%M:%S"), r.terminal_id, r.term_seq, r.card_no,
                      yuan(r.base_amount), yuan(r.surcharge), yuan(r.amount), yuan(r.held_amount),
                      csv_safe(str(r.get_status_display())), csv_safe(" ".join(r.problems or []))])
    return response


def _error_text(exc: BusinessError) -> str:
    return "; ".join(exc.messages)


@merchant_required
def duplicates(request):
    rows = list(selectors.duplicate_suspects(merchant=request.merchant)[:500])
    returned = selectors.returned_record_ids(record_ids=[r.pk for r in rows])
    for r in rows:
        r.returned = r.pk in returned
        r.refundable = not r.returned and r.status == Record.Status.POSTED
    return render(request, "portal/duplicates.html", {"merchant": request.merchant, "rows": rows})


@merchant_required
@require_POST
def duplicate_refund(request, pk: int):
    """The merchant confirms a suspected duplicate: the holder gets it back at the merchant's cost (R-DUP-1)."""
    record = selectors.duplicate_suspects(merchant=request.merchant).filter(pk=pk).first()
    if record is None:
        raise Http404  # another merchant's record looks like one that does not exist
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please say why the charge is a duplicate."))
        return redirect("portal:duplicates")
    try:
        refunds = services.duplicate_refund_confirm(actor=request.user, record=record, reason=form.cleaned_data["reason"])
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except BusinessError as exc:
        messages.error(request, _("The refund was refused: %(error)s") % {"error": _error_text(exc)})
    else:
        total = sum(r.from_merchant + r.from_surcharge for r in refunds)
        messages.success(request, _("Refunded %(amount)s yuan to card %(card)s; it is credited at the card's next use.")
                         % {"amount": yuan(total), "card": record.card_no})
    return redirect("portal:duplicates")


# --- settlement statements and the application (U§11, R-SET-3) ------------------------------

def _own_statement(request, pk: int):
    st = selectors.statement(merchant=request.merchant, pk=pk)
    if st is None:
        raise Http404  # another merchant's statement looks like one that does not exist
    return st


def _with_window(st, today):
    st.window_start, st.window_end = selectors.application_window(st)
    # Before the window the service refuses; after it, it takes the application and marks it late.
    st.can_apply = st.status == st.Status.OPEN and today >= st.window_start
    st.window_open = st.window_start <= today <= st.window_end
    return st


@merchant_required
def statements(request):
    today = business_day()
    rows = [_with_window(st, today) for st in selectors.statements(merchant=request.merchant)[:60]]
    return render(request, "portal/statements.html", {"merchant": request.merchant, "statements": rows,
                                                      "today": today})


@merchant_required
def statement_detail(request, pk: int):
    today = business_day()
    st = _with_window(_own_statement(request, pk), today)
    return render(request, "portal/statement.html", {
        "merchant": request.merchant, "st": st, "days": selectors.statement_days(statement=st), "today": today,
        "may_apply": request.user.has_perm("settlement.apply_statement"),
    })


@merchant_required
def statement_download(request, pk: int, fmt: str):
    if fmt not in ("pdf", "xlsx"):
        raise Http404
    st = _own_statement(request, pk)
    response = HttpResponse(statement_file(statement=st, fmt=fmt), content_type=CONTENT_TYPES[fmt])
    name = f"statement-{request.merchant.code}-{st.period_start:%Y-%m-%d}-{st.period_end:%Y-%m-%d}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@merchant_required
@require_POST
def statement_apply(request, pk: int):
    st = _own_statement(request, pk)
    try:
        st = services.statement_apply(actor=request.user, statement=st)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except BusinessError as exc:
        messages.error(request, _("The application was refused: %(error)s") % {"error": _error_text(exc)})
    else:
        if st.applied_late:
            messages.warning(request, _("Applied for, after the 11th–20th window (U§11): the card centre will check it."))
        else:
            messages.success(request, _("Applied for. The card centre checks the figures with you, then finance pays."))
    return redirect("portal:statement", pk=st.pk)


# --- correction forms (消费纠错处理单, U§9) -----------------------------------------------------

@merchant_required
def corrections(request):
    return render(request, "portal/corrections.html", {
        "merchant": request.merchant, "rows": selectors.corrections(merchant=request.merchant)[:200],
    })


@merchant_required
def correction_new(request):
    raw = request.GET.get("record") or request.POST.get("record") or ""
    record_id = int_param(raw)
    if record_id is None:
        raise Http404
    record = selectors.record(merchant=request.merchant, pk=record_id)
    if record is None:
        raise Http404  # not this merchant's, or older than the months it may see (U§10)
    form = CorrectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.correction_request(actor=request.user, record=record, amount=data["amount"], reason=data["reason"],
                                        merchant_confirmed=data["merchant_confirmed"],
                                        holder_confirmed=data["holder_confirmed"])
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except BusinessError as exc:
            form.add_error(None, _error_text(exc))
        else:
            messages.success(request, _("Correction form sent to the card centre."))
            return redirect("portal:corrections")
    return render(request, "portal/correction_new.html", {"merchant": request.merchant, "record": record, "form": form})
