"""What needs a person: records with problems, open card-vs-account flags, suspected duplicates."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet

from .. import labels, wire
from ..models import CardFlag, LostRange, Record, RecordConflict
from .records import SETTLED, SHARE


def open_card_flags(*, limit: int = 1000, raised_from=None, raised_to=None) -> tuple[int, list[dict]]:
    """Card-vs-account disagreements (卡库不平) not yet resolved (raised in [from, to) if given):
    how many, and the oldest."""
    qs = CardFlag.objects.filter(resolved_at__isnull=True)
    if raised_from is not None:
        qs = qs.filter(at__gte=raised_from, at__lt=raised_to)
    rows = qs.order_by("id").values("id", "card_no", "kind", "expected", "actual", "record_id", "at")[:limit]
    return qs.count(), [{**r, "at": r["at"].isoformat()} for r in rows]


def open_record_exceptions(*, limit: int = 1000, received_from=None, received_to=None) -> tuple[int, list[dict]]:
    """Records that could not be posted (status exception) and are not yet dealt with
    (received in [from, to) if given)."""
    qs = Record.objects.filter(status=Record.Status.EXCEPTION)
    if received_from is not None:
        qs = qs.filter(batch__received_at__gte=received_from, batch__received_at__lt=received_to)
    rows = qs.order_by("id").values("id", "terminal_id", "term_seq", "card_no", "base_amount", "problems")[:limit]
    return qs.count(), list(rows)


def card_flags_by_id(*, ids) -> dict[int, dict]:
    rows = CardFlag.objects.filter(id__in=list(ids)).values("id", "card_no", "kind", "expected", "actual", "record_id")
    return {r["id"]: r for r in rows}


def open_other_exceptions() -> dict:
    return {
        "lost_ranges": LostRange.objects.filter(resolved_at__isnull=True).count(),
        "record_conflicts": RecordConflict.objects.filter(resolved_at__isnull=True).count(),
    }


def records_suspected_duplicate(*, merchant_id: int | None = None, since: dt.datetime | None = None) -> QuerySet[Record]:
    """Posted purchases that posting marked as a suspected duplicate charge (R-DUP-1)."""
    qs = Record.objects.filter(status=Record.Status.POSTED, kind=wire.RecordKind.PURCHASE,
                               problems__contains=["suspected_duplicate"])
    if merchant_id is not None:
        qs = qs.filter(merchant_id=merchant_id)
    if since is not None:
        qs = qs.filter(time__gte=since)
    return qs.order_by("-time")


def record_duplicate_original(*, record: Record) -> Record | None:
    """The earlier charge a suspected duplicate repeats: same card, terminal and amount within
    the terminal's duplicate guard, the latest before it."""
    window = dt.timedelta(seconds=record.terminal.min_interval_s)
    return (
        Record.objects.filter(
            terminal_id=record.terminal_id, card_no=record.card_no, kind=wire.RecordKind.PURCHASE,
            base_amount=record.base_amount, term_seq__lt=record.term_seq, time__gte=record.time - window,
            status__in=SETTLED,
        )
        .order_by("-term_seq")
        .first()
    )


def merchant_duplicate_suspects(*, merchant, since: dt.datetime) -> QuerySet[Record]:
    """Charges posting marked as suspected duplicates (R-DUP-1), for the merchant to confirm."""
    return (Record.objects.filter(merchant_id=merchant.pk, time__gte=since, problems__contains=["suspected_duplicate"])
            .annotate(amount=SHARE).order_by("-time").defer("raw"))


def open_exceptions_by_kind() -> dict[str, int]:
    """Everything staff must resolve, counted by kind: record problems, card-vs-account flags,
    declared lost records and conflicting resends."""
    out: dict[str, int] = {}
    for problems in Record.objects.filter(status=Record.Status.EXCEPTION).values_list("problems", flat=True):
        for p in problems or ["unknown"]:
            out[f"record:{p}"] = out.get(f"record:{p}", 0) + 1
    for kind, n in CardFlag.objects.filter(resolved_at__isnull=True).values_list("kind").annotate(n=Count("id")):
        out[f"card_flag:{kind}"] = n
    lost = LostRange.objects.filter(resolved_at__isnull=True).count()
    if lost:
        out["lost_records"] = lost
    conflicts = RecordConflict.objects.filter(resolved_at__isnull=True).count()
    if conflicts:
        out["record_conflict"] = conflicts
    return dict(sorted(out.items()))


def records_with_problems(*, limit: int = 200) -> list[dict]:
    """Records posting left as exceptions, newest first, with merchant and terminal names."""
    rows = list(Record.objects.filter(Q(status=Record.Status.EXCEPTION)).order_by("-time")
                .values("id", "time", "card_no", "base_amount", "surcharge", "problems", "terminal_id",
                        "terminal__location", "merchant__name")[:limit])
    for r in rows:
        r["problem_labels"] = [labels.record_problem_label(p) for p in r["problems"] or []]
        r["total"] = r["base_amount"] + r["surcharge"]
    return rows
