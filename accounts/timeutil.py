"""Business days are Asia/Shanghai dates; storage is UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

BUSINESS_TZ = ZoneInfo(settings.BUSINESS_TIME_ZONE)


def business_day(at: dt.datetime | None = None) -> dt.date:
    return (at or timezone.now()).astimezone(BUSINESS_TZ).date()


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
