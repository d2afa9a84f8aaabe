"""Reads of terminal records for the card centre's desk: a card's last transactions with merchant
and terminal names, the day's purchases by hour, deposits taken at top-up terminals and how many
terminals are online. Amounts are fen, as the record has them (base, surcharge, total)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, ExtractHour

from accounts.timeutil import BUSINESS_TZ

from . import labels
from .models import Record, Terminal
from .protocol import RecordKind

LIVE = ("posted", "held")
def card_records(*, card_nos, limit: int = 20) -> list[dict]:
    """The newest records of these cards (a holder's current and earlier cards), any status."""
    rows = (Record.objects.filter(card_no__in=list(card_nos))
            .order_by("-time", "-id")
            .values("id", "time", "card_no", "kind", "base_amount", "surcharge", "balance_after", "status",
                    "problems", "operator_no", "terminal_id", "terminal__location", "merchant__name")[:limit])
    out = []
    for r in rows:
        deposit = r["kind"] == RecordKind.DEPOSIT
        out.append({
            "id": r["id"], "time": r["time"], "card_no": r["card_no"], "kind": r["kind"],
            # A DEPOSIT with operator 0 writes pending credit (过渡余额) onto the card: no cash.
            "kind_code": "pending_write" if deposit and not r["operator_no"] else ("deposit" if deposit else "purchase"),
            "base": r["base_amount"], "surcharge": r["surcharge"], "total": r["base_amount"] + r["surcharge"],
            "balance_after": r["balance_after"], "status": r["status"],
            "status_label": Record.Status(r["status"]).label if r["status"] in Record.Status.values else r["status"],
            "problems": [labels.record_problem_label(p) for p in r["problems"] or []],
            "terminal_id": r["terminal_id"], "terminal": r["terminal__location"] or "", "merchant": r["merchant__name"] or "",
        })
    return out


def purchases_by_hour(*, day: dt.date) -> list[dict]:
    """[{hour, count, amount}] for the 24 hours (Beijing time) of the purchases posted to a business
    day (held ones too: the holder paid). The business day is indexed; the time of a record is not."""
    rows = {r["hour"]: r for r in Record.objects.filter(business_day=day, kind=RecordKind.PURCHASE, status__in=LIVE)
            .annotate(hour=ExtractHour("time", tzinfo=BUSINESS_TZ)).values("hour")
            .annotate(count=Count("id"), amount=Sum(F("base_amount") + F("surcharge")))}
    return [{"hour": h, "count": rows.get(h, {}).get("count") or 0, "amount": rows.get(h, {}).get("amount") or 0}
            for h in range(24)]


def terminal_deposits(*, day: dt.date) -> dict:
    """Cash deposits taken at top-up terminals (operator ≠ 0) posted to a business day."""
    qs = Record.objects.filter(business_day=day, kind=RecordKind.DEPOSIT, status__in=LIVE, operator_no__gt=0)
    r = qs.aggregate(n=Count("id"), amount=Coalesce(Sum("base_amount"), 0))
    return {"count": r["n"], "amount": r["amount"]}


def terminal_deposit_list(*, day: dt.date, limit: int = 200) -> list[dict]:
    return list(Record.objects.filter(business_day=day, kind=RecordKind.DEPOSIT, status__in=LIVE, operator_no__gt=0)
                .order_by("-time")
                .values("time", "card_no", "base_amount", "operator_no", "terminal_id", "terminal__location")[:limit])


def terminals_active_count() -> int:
    return Terminal.objects.filter(status=Terminal.Status.ACTIVE).count()


def records_with_problems(*, limit: int = 200) -> list[dict]:
    """Records posting left as exceptions, newest first, with merchant and terminal names."""
    rows = list(Record.objects.filter(Q(status=Record.Status.EXCEPTION)).order_by("-time")
                .values("id", "time", "card_no", "base_amount", "surcharge", "problems", "terminal_id",
                        "terminal__location", "merchant__name")[:limit])
    for r in rows:
        r["problem_labels"] = [labels.record_problem_label(p) for p in r["problems"] or []]
        r["total"] = r["base_amount"] + r["surcharge"]
    return rows
