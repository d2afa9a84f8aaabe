"""Where the front page's tiles lead: today's losses, issues, deposits, the terminals offline and
the open exceptions, each as a list with links to the holder or the admin page that resolves it."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from accounts import selectors
from accounts.admin_views import audit_rows
from accounts.timeutil import business_day
from terminals import selectors as terminal_selectors

from .access import desk_view
from .dashboard import DEPOSIT_ACTIONS, ISSUE_ACTIONS, LOSS_ACTIONS, day_bounds, exception_rows, terminals_summary

TITLES = {
    "losses": _("Losses reported today"),
    "issues": _("Cards issued today"),
    "deposits": _("Deposits today"),
    "terminals": _("Terminals"),
    "exceptions": _("Open exceptions"),
}


@desk_view("terminals.view_record")
def today(request, what: str):
    if what not in TITLES:
        raise Http404
    day = business_day()
    since, until = day_bounds(day)
    context = {"what": what, "title": TITLES[what], "day": day}
    if what in ("losses", "issues"):
        entries = selectors.audit_between(actions=LOSS_ACTIONS if what == "losses" else ISSUE_ACTIONS,
                                          since=since, until=until)[:500]
        context["rows"] = [{**row, "holder": e.holder} for row, e in zip(audit_rows(entries), entries)]
    elif what == "deposits":
        entries = selectors.audit_between(actions=DEPOSIT_ACTIONS, since=since, until=until)[:500]
        context["rows"] = [{**row, "holder": e.holder, "amount": (e.data or {}).get("amount")}
                           for row, e in zip(audit_rows(entries), entries)]
        context["terminal_rows"] = terminal_selectors.terminal_deposit_list(day=day)
    elif what == "terminals":
        context["terminals"] = terminals_summary()
    else:
        context["exceptions"] = exception_rows()
        context["records"] = terminal_selectors.records_with_problems(limit=100)
    return render(request, "desk/today.html", context)
