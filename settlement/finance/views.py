from __future__ import annotations

import datetime as dt
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import selectors as accounts_selectors
from accounts import services as accounts_services
from accounts.errors import BusinessError, NotAllowed
from accounts.formatting import yuan
from accounts.models import AdjustmentRequest, LedgerAccount
from accounts.parsing import date_param, month_param
from accounts.selectors import account_postings
from accounts.services import Adjustment, system_account
from accounts.timeutil import business_day

from .. import reports, selectors, services
from ..models import GraduationClosure, Statement
from . import files
from .forms import GraduationCloseForm

FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
}


def finance_required(view):
    """Finance staff (and the super admin): whoever may approve or pay statements. The card
    centre sees statements in the admin, where it checks them; this desk is finance's."""

    @wraps(view)
    @login_required(login_url="admin:login")
    @never_cache
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_staff or not (user.has_perm("settlement.approve_statement")
                                     or user.has_perm("settlement.pay_statement")):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _period(request) -> tuple[dt.date, dt.date]:
    """?month=YYYY-MM, default the previous month (the one being settled, R-SET-3); or an agreed
    other period (R-SET-1) as ?start=YYYY-MM-DD&end=YYYY-MM-DD."""
    if request.GET.get("start") and request.GET.get("end"):
        start, end = date_param(request.GET["start"]), date_param(request.GET["end"])
        if start is None or end is None or start > end:
            raise Http404
        return start, end
    raw = request.GET.get("month") or request.POST.get("month")
    if raw:
        first = month_param(raw)
        if first is None:
            raise Http404
    else:
        first = (business_day().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return first, last


def _file(data: bytes, name: str, fmt: str) -> HttpResponse:
    response = HttpResponse(data, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@finance_required
def home(request):
    start, end = _period(request)
    statements = selectors.statements_for(period_start=start, period_end=end).order_by("kind", "merchant__code")
    return render(request, "finance/home.html", {
        "start": start, "end": end, "month": start.strftime("%Y-%m"), "statements": statements,
        "period_query": f"start={start}&end={end}",
        "late": selectors.statements_late(today=business_day()), "yesterday": business_day() - dt.timedelta(days=1),
        "can_approve": request.user.has_perm("settlement.approve_statement"),
        "can_pay": request.user.has_perm("settlement.pay_statement"),
    })


@finance_required
@require_POST
def statement_action(request, pk: int, action: str):
    statement = get_object_or_404(Statement, pk=pk)
    try:
        if action == "approve":
            services.statement_approve(actor=request.user, statement=statement)
        elif action == "pay":
            services.statement_pay(actor=request.user, statement=statement, bank_ref=request.POST.get("bank_ref", ""))
        else:
            raise Http404
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except BusinessError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect(f"{reverse('finance:home')}?start={statement.period_start}&end={statement.period_end}")


@finance_required
def settlement_report(request, fmt: str):
    if fmt not in FORMATS:
        raise Http404
    start, end = _period(request)
    render_fn = {"xlsx": reports.settlement_report_xlsx, "pdf": reports.settlement_report_pdf,
                 "csv": reports.settlement_report_csv}[fmt]
    return _file(render_fn(period_start=start, period_end=end), f"settlement-{start:%Y-%m}", fmt)


@finance_required
def payout_list(request, fmt: str):
    """The payout file, with each payee's full bank account (finance pays from it)."""
    if fmt not in ("xlsx", "pdf", "csv"):
        raise Http404
    start, end = _period(request)
    data = reports.RENDERERS[fmt](files.payout_table(period_start=start, period_end=end))
    return _file(data, f"payouts-{start:%Y-%m}", fmt)


@finance_required
def payouts(request):
    """The payout list on screen: bank accounts masked (the file has them in full)."""
    start, end = _period(request)
    rows = files.payout_rows(period_start=start, period_end=end)
    return render(request, "finance/payouts.html", {
        "start": start, "end": end, "month": start.strftime("%Y-%m"), "rows": rows,
        "period_query": f"start={start}&end={end}", "total": sum(r["statement"].net for r in rows),
    })


# --- bank adjustments with a second person (R-ADJ-1) ------------------------------------------

def _adjustments_allowed(user) -> None:
    if not user.has_perm("accounts.adjust_account"):
        raise PermissionDenied


@finance_required
def adjustments(request):
    _adjustments_allowed(request.user)
    labels = {k: _(label) for k, label in Adjustment.CHOICES}
    pending, decided = list(accounts_selectors.adjustments_pending()), accounts_selectors.adjustments_decided()
    for r in pending + decided:
        r.kind_label = labels.get(r.kind, r.kind)
    return render(request, "finance/adjustments.html", {"pending": pending, "decided": decided})


@finance_required
@require_POST
def adjustment_decide(request, pk: int, action: str):
    _adjustments_allowed(request.user)
    if action not in ("approve", "reject"):
        raise Http404
    req = get_object_or_404(AdjustmentRequest, pk=pk)
    try:
        accounts_services.adjustment_decide(actor=request.user, request=req, approve=action == "approve",
                                            note=request.POST.get("note", ""))
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except BusinessError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, _("Adjustment #%(pk)s approved and posted.") % {"pk": req.pk} if action == "approve"
                         else _("Adjustment #%(pk)s rejected.") % {"pk": req.pk})
    return redirect("finance:adjustments")


# --- graduation closures (R-CLOSE-2) ------------------------------------------------------------

def _closures_allowed(user) -> None:
    if not (user.has_perm("settlement.view_graduationclosure") or user.has_perm("accounts.close_account")):
        raise PermissionDenied


@finance_required
def closures(request):
    _closures_allowed(request.user)
    return render(request, "finance/closures.html", {"closures": selectors.graduation_closures()})


@finance_required
def closure_new(request):
    """Close a graduating cohort (R-CLOSE-2): without the confirmation ticked a submit shows who
    would be closed and what would be paid; with it, closes and pays (then the bank file)."""
    if not request.user.has_perm("accounts.close_account"):
        raise PermissionDenied
    form = GraduationCloseForm(request.POST or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        unit_id = data["unit"].pk if data["unit"] else None
        if data["confirm"]:
            try:
                closure = services.graduation_close(actor=request.user, graduation_year=data["graduation_year"],
                                                    reason=data["reason"], unit_id=unit_id)
            except NotAllowed as exc:
                raise PermissionDenied(str(exc)) from exc
            except BusinessError as exc:
                messages.error(request, "; ".join(exc.messages))
            else:
                messages.success(request, _("Closed: %(paid)s paid to bank cards, %(total)s yuan; the bank transfer file "
                                            "is below.") % {"paid": closure.paid, "total": yuan(closure.total)})
                return redirect("finance:closure", pk=closure.pk)
        preview = selectors.graduation_cohort_summary(graduation_year=data["graduation_year"], unit_id=unit_id)
    return render(request, "finance/closure_new.html", {"form": form, "preview": preview})


@finance_required
def closure_detail(request, pk: int):
    _closures_allowed(request.user)
    closure = get_object_or_404(GraduationClosure, pk=pk)
    return render(request, "finance/closure.html", {"closure": closure,
                                                    "unpaid": selectors.closure_unpaid_lines(closure=closure)})


@finance_required
def closure_bank_file(request, pk: int):
    """The bank transfer file: one line per balance paid to a graduate's bank card."""
    _closures_allowed(request.user)
    closure = get_object_or_404(GraduationClosure, pk=pk)
    return _file(reports.closure_bank_file_csv(closure=closure), f"graduation-{closure.pk}-bank", "csv")


@finance_required
def closure_unpaid_file(request, pk: int):
    _closures_allowed(request.user)
    closure = get_object_or_404(GraduationClosure, pk=pk)
    return _file(reports.table_xlsx(reports.closure_unpaid_table(closure=closure)), f"graduation-{closure.pk}-unpaid",
                 "xlsx")


@finance_required
def day_close_report(request, fmt: str):
    if fmt not in FORMATS:
        raise Http404
    day = date_param(request.GET.get("day", ""))
    if day is None:
        raise Http404
    if selectors.day_close_get(day=day) is None:
        messages.error(request, _("The day %(day)s is not closed yet.") % {"day": day})
        return redirect("finance:home")
    return _file(reports.day_close_report(day=day, fmt=fmt), f"day-close-{day}", fmt)


SPECIAL = {"card_fee": LedgerAccount.Kind.CARD_FEE, "mgmt_fee": LedgerAccount.Kind.MGMT_FEE}


@finance_required
def special_accounts(request):
    if not request.user.has_perm("accounts.view_ledgeraccount"):
        raise PermissionDenied
    accounts = []
    for kind in SPECIAL.values():
        account = system_account(kind)
        # Shown on the account's natural side: money coming into a fee account is positive.
        rows = [{"posting": p, "amount": p.amount * account.normal} for p in account_postings(account=account)[:100]]
        accounts.append({"account": account, "postings": rows})
    return render(request, "finance/special_accounts.html", {"accounts": accounts})
