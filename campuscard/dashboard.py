"""The card centre's front page (the admin index): what needs attention today, from every
app's selectors. Read-only; one call per panel."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import selectors as accounts_selectors
from accounts.formatting import yuan
from accounts.timeutil import BUSINESS_TZ, business_day
from settlement import selectors as settlement_selectors
from settlement.portal.charts import bar_chart
from terminals import labels as terminal_labels
from terminals import selectors as terminal_selectors


def cards_frozen_on(day: dt.date) -> int:
    """Cards frozen on a business day and still frozen."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=BUSINESS_TZ)
    return accounts_selectors.cards_frozen_count(since=start, until=start + dt.timedelta(days=1))


def exception_rows() -> list[dict]:
    """Everything staff must resolve, by kind, in words: record problems, card-vs-account flags,
    declared lost records, conflicting resends and the daily close's differences."""
    rows = []
    for key, n in terminal_selectors.open_exceptions_by_kind().items():
        rows.append({"key": key, "label": terminal_labels.open_exception_label(key), "count": n})
    for x in settlement_selectors.close_exceptions_open_by_kind():
        rows.append({"key": f"close:{x['kind']}", "label": _("Daily close: %(kind)s") % {"kind": x["label"]},
                     "count": x["n"]})
    return rows


def dashboard_data(*, today: dt.date | None = None) -> dict:
    today = today or business_day()
    series = terminal_selectors.records_daily(start=today - dt.timedelta(days=29), end=today)
    lag = terminal_selectors.posting_lag()
    exceptions = exception_rows()
    terminals = terminal_selectors.terminals_needing_attention()
    today_totals = terminal_selectors.records_on_day(day=today)
    return {
        "today": today,
        "now": timezone.now(),
        "records_today": today_totals["count"],
        "amount_today": yuan(today_totals["amount"]),
        "lag": lag,
        "lag_seconds": int(lag["oldest_seconds"]),
        "exceptions": exceptions,
        "exceptions_total": sum(r["count"] for r in exceptions),
        "terminals": terminals,
        "frozen_today": cards_frozen_on(today),
        "chart": bar_chart([(d["day"].strftime("%m-%d"), d["amount"]) for d in series]),
    }
