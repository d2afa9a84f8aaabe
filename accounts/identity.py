"""Who a holder is: ID numbers (python-stdnum checks the resident ID's check digit and birth date),
registered mobile numbers and staff/student numbers, each cleaned the same way wherever it is
typed (the desk, the kiosk, the intake file, the registry's API)."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from .errors import BusinessError
from .models import Category

# Staff/student numbers are letters and digits (imported holders such as T2026001), a dash or an
# underscore inside; never a formula or a space.
HOLDER_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
PASSPORT = re.compile(r"^[A-Z0-9]{5,20}$")
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


def holder_number_clean(value: str) -> str:
    value = (value or "").strip()
    if not HOLDER_NUMBER.match(value):
        raise BusinessError(_("A staff/student number is 1 to 32 letters and digits (a dash or underscore inside)."))
    return value


def id_number_clean(value: str, *, category: str = "") -> str:
    """The ID number as stored: an 18-character resident ID (居民身份证) whose check digit and birth
    date are right, with a capital X; an international exchange student may give a passport number."""
    compact = re.sub(r"[\s-]", "", value or "").upper()
    if not compact:
        return ""
    shown = compact[:4] + "*" * max(len(compact) - 8, 0) + compact[-4:] if len(compact) > 8 else compact
    if category == Category.INTL_EXCHANGE and not re.fullmatch(r"[0-9]{17}[0-9X]", compact):
        if PASSPORT.match(compact):
            return compact
        raise BusinessError(_("\"%(value)s\" is not a passport number (5 to 20 letters and digits).") % {"value": shown})
    try:
        return ric.validate(compact)
    except stdnum_errors.InvalidChecksum:
        raise BusinessError(_("ID number %(value)s: the check digit is wrong.") % {"value": shown}) from None
    except stdnum_errors.InvalidComponent:
        raise BusinessError(_("ID number %(value)s: the birth date or region in it is not valid.") % {
            "value": shown}) from None
    except stdnum_errors.ValidationError:
        raise BusinessError(_("ID number %(value)s is not an 18-character resident ID number.") % {
            "value": shown}) from None


def id_numbers_match(on_file: str, presented: str) -> bool:
    """Whether the ID presented at the counter is the one on file (spaces and a lowercase x aside)."""
    clean = lambda v: re.sub(r"[\s-]", "", v or "").upper()  # noqa: E731
    return bool(on_file) and clean(on_file) == clean(presented)


def phone_clean(value: str) -> str:
    value = re.sub(r"[\s-]", "", value or "")
    if value.startswith("+86"):
        value = value[3:]
    if value and not MOBILE.match(value):
        raise BusinessError(_("\"%(value)s\" is not a mainland mobile number (11 digits starting with 1).") % {
            "value": value})
    return value
