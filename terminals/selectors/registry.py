"""Terminals themselves: where they stand, which merchant has them, which are online or need attention."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from accounts.selectors import blocklist_version_before

from ..models import Assignment, Terminal


def day_terminal_health(*, day_start: dt.datetime, blocklist_required: int) -> list[dict]:
    """Active terminals that were silent all day (or longer), report unsent records, or run a
    block list older than `blocklist_required` (R-TERM-2, R-TERM-3)."""
    rows = (
        Terminal.objects.filter(status=Terminal.Status.ACTIVE)
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=day_start) | Q(unsent__gt=0)
                | Q(blocklist_version__lt=blocklist_required))
        .order_by("id")
        .values_list("id", "last_seen_at", "unsent", "blocklist_version", "blocklist_version_at")
    )
    out = []
    for tid, seen, unsent, bl, _bl_at in rows:
        problems = []
        if seen is None or seen < day_start:
            problems.append("not_seen")
        if unsent:
            problems.append("unsent")
        if bl < blocklist_required:
            problems.append("blocklist_lag")
        out.append({"terminal_id": tid, "problems": problems, "last_seen_at": seen.isoformat() if seen else None,
                    "unsent": unsent, "blocklist_version": bl, "blocklist_required": blocklist_required})
    return out


def terminal_locations(*, ids) -> dict[int, str]:
    """terminal id -> location, for revenue read from the daily close's terminal totals."""
    return dict(Terminal.objects.filter(pk__in=list(ids)).values_list("id", "location"))


def merchant_terminal_ids(*, merchant) -> list[int]:
    """Terminals that ever served the merchant (its records may come from any of them)."""
    return sorted(set(Assignment.objects.filter(merchant_id=merchant.pk).values_list("terminal_id", flat=True)))


def terminals_needing_attention(*, offline_after_s: int = 300, behind_after_s: int = 300) -> dict:
    """Active terminals not heard from lately (R-TERM-2), and those that still lack a block-list
    change made more than the grace ago (R-TERM-3: a late list lets a stolen card be spent)."""
    now = timezone.now()
    # The newest version older than the grace.
    due = blocklist_version_before(at=now - dt.timedelta(seconds=behind_after_s))
    active = Terminal.objects.filter(status=Terminal.Status.ACTIVE)
    fields = ("id", "location", "last_seen_at", "blocklist_version", "blocklist_version_at")
    offline = active.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - dt.timedelta(seconds=offline_after_s)))
    behind = active.filter(blocklist_version__lt=due)
    return {"offline": list(offline.values(*fields)[:50]), "offline_count": offline.count(),
            "behind": list(behind.values(*fields)[:50]), "behind_count": behind.count(), "due_version": due}


def terminals_active_count() -> int:
    return Terminal.objects.filter(status=Terminal.Status.ACTIVE).count()
