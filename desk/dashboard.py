"""The desk's front page: what happened today, each tile a link to its list, and purchases by
hour today beside yesterday. Reads only, through each app's selectors."""

from __future__ import annotations

import datetime as dt

from accounts import selectors as accounts_selectors
from accounts.timeutil import BUSINESS_TZ, business_day
from campuscard.dashboard import exception_rows
from terminals import selectors as terminal_selectors

from .charts import hourly_pair_chart

LOSS_ACTIONS = ("card_report_loss",)
ISSUE_ACTIONS = ("card_issue", "card_replace")
DEPOSIT_ACTIONS = ("cash_deposit",)
OFFLINE_AFTER_S = 300


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=BUSINESS_TZ)
    return start, start + dt.timedelta(days=1)


def may_see_centre(user) -> bool:
    """Centre-wide figures are for those who may see terminal records (card centre, finance,
    super admin); a cashier sees the counter and their own cash."""
    return user.has_perm("terminals.view_record")


def terminals_summary() -> dict:
    total = terminal_selectors.terminals_active_count()
    attention = terminal_selectors.terminals_needing_attention(offline_after_s=OFFLINE_AFTER_S)
    return {"total": total, "online": total - attention["offline_count"], **attention}


def desk_dashboard(*, user, today: dt.date | None = None) -> dict:
    today = today or business_day()
    start, end = day_bounds(today)
    data: dict = {"today": today, "centre": may_see_centre(user)}
    if data["centre"]:
        counts = accounts_selectors.audit_counts(actions=LOSS_ACTIONS + ISSUE_ACTIONS, since=start, until=end)
        counter = accounts_selectors.cash_deposits_on(day=today)
        terminal = terminal_selectors.terminal_deposits(day=today)
        exceptions = exception_rows()
        data.update({
            "losses": counts.get("card_report_loss", 0),
            "issues": sum(counts.get(a, 0) for a in ISSUE_ACTIONS),
            "deposits": {"count": counter["count"] + terminal["count"], "amount": counter["amount"] + terminal["amount"]},
            "terminals": terminals_summary(),
            "exceptions": sum(r["count"] for r in exceptions),
            "chart": hourly_pair_chart(terminal_selectors.purchases_by_hour(day=today),
                                       terminal_selectors.purchases_by_hour(day=today - dt.timedelta(days=1))),
        })
    if user.has_perm("accounts.deposit_cash"):
        report = accounts_selectors.cash_report(operator=user, since=start, until=end)
        data["my_cash"] = {"received": report["received"], "paid": report["paid"], "lines": len(report["lines"]),
                           "movement": report["movement"]}
    return data
