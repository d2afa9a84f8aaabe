"""The cashier's own cash report: this shift (since signing in) or a whole business day, line by
line, totals per kind, and the check that it balances against the ledger."""

from __future__ import annotations

import datetime as dt

from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import selectors
from accounts.models import Journal
from accounts.timeutil import business_day

from .access import desk_view
from .dashboard import day_bounds
from .forms import CashReportForm

FAMILY_LABELS = {
    "counter_deposit": _("Cash deposits at the counter"),
    "terminal_deposit": _("Cash deposits at my top-up terminal"),
    **{k: v for k, v in Journal.Kind.choices},
}


@desk_view()
def cash_report(request):
    user, now = request.user, timezone.now()
    form = CashReportForm(request.GET or None)
    day = form.cleaned_data.get("day") if form.is_valid() else None
    if day is not None or request.GET.get("period") == "day":
        day = day or business_day()
        since, until = day_bounds(day)
        until = min(until, now) if day == business_day() else until
        period, title = "day", _("Cash report of %(day)s") % {"day": day.isoformat()}
    else:
        start_of_day = day_bounds(business_day())[0]
        since = max(user.last_login or start_of_day, start_of_day)
        until, period, title = now, "shift", _("Cash report of this shift")
    report = selectors.cash_report(operator=user, since=since, until=until)
    for line in report["lines"]:
        line["label"] = FAMILY_LABELS.get(line["family"], line["family"])
    for group in report["groups"]:
        group["label"] = FAMILY_LABELS.get(group["family"], group["family"])
    return render(request, "desk/cash_report.html", {
        "report": report, "since": since, "until": until, "period": period, "title": title,
        "form": CashReportForm(initial={"day": day or business_day()}), "printed_at": now,
        "yesterday": business_day() - dt.timedelta(days=1),
    })
