"""Numbers and dates from query strings and form fields, parsed once, the same way everywhere.

str.isdigit() is True for '²' and '٣', which int() refuses or reads as another digit: a page that
guarded int() with isdigit() answered 500 to ?q=². A date in year 9999 parses, then overflows as
soon as a day is added or it becomes a datetime. These parsers take ASCII digits only and dates in
the years a card centre can mean, and answer None for anything else, so a caller answers 400 or an
empty result instead.
"""

from __future__ import annotations

import datetime as dt
import re

_ASCII_DIGITS = re.compile(r"[0-9]{1,20}")
# Far enough for any card's validity (staff: 35 years, R-CARD-6) and any history; near enough that
# adding a year, a month or a day, or a time zone, never leaves what datetime can hold.
DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2999, 12, 31)
CARD_NO_MAX = 4294967295  # the protocol's u32 (POS-PROTOCOL.md)
BIGINT_MAX = 9223372036854775807


def int_param(raw, *, max_value: int = BIGINT_MAX) -> int | None:
    """A non-negative whole number written in ASCII digits, at most `max_value`; else None."""
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if not _ASCII_DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= max_value else None


def card_no_param(raw) -> int | None:
    value = int_param(raw, max_value=CARD_NO_MAX)
    return value if value else None


def date_in_range(value: dt.date | None) -> bool:
    return value is not None and DATE_MIN <= (value.date() if isinstance(value, dt.datetime) else value) <= DATE_MAX


def date_param(raw) -> dt.date | None:
    """YYYY-MM-DD between DATE_MIN and DATE_MAX, else None."""
    if not isinstance(raw, str):
        return None
    try:
        value = dt.date.fromisoformat(raw.strip())
    except ValueError:
        return None
    return value if date_in_range(value) else None


def month_param(raw) -> dt.date | None:
    """YYYY-MM as the month's first day, between DATE_MIN and DATE_MAX, else None."""
    if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}", raw.strip()):
        return None
    try:
        value = dt.datetime.strptime(raw.strip(), "%Y-%m").date()
    except ValueError:
        return None
    return value if date_in_range(value) else None
