"""Batch applications from units (R-ISSUE-2): read CSV or XLSX, validate every row first.

A file is all or nothing: batch_rows_validate returns the cleaned rows and, per file row, the
errors that stop it; card_batch_issue applies nothing while any error remains.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from .errors import BusinessError
from .models import FORMAL_CATEGORIES, LIVE_STATUSES, Cardholder, CardType, Category
from .timeutil import business_day

MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024

# Column names accepted in a header row, English or Chinese.
HEADERS = {
    "number": "number", "学号/工号": "number", "工号": "number", "学号": "number", "编号": "number",
    "name": "name", "姓名": "name",
    "id_number": "id_number", "身份证号": "id_number", "证件号": "id_number",
    "category": "category", "类别": "category", "人员类别": "category",
    "start_date": "start_date", "开始日期": "start_date",
    "end_date": "end_date", "截止日期": "end_date", "结束日期": "end_date",
    "bank_card_no": "bank_card_no", "银行卡号": "bank_card_no",
    "label": "label", "备注": "label",
}
CATEGORY_ALIASES = {"外聘人员": Category.CONTRACT_STAFF, "临时工": Category.CONTRACT_STAFF,
                    "非计划内学生": Category.NON_PLAN_STUDENT, "其他人员": Category.OTHER_RESIDENT,
                    "进修": Category.SHORT_TERM, "实习": Category.SHORT_TERM}

# The columns as a person reads them in a row error: the code of the header, then the Chinese name.
COLUMN_LABELS = {
    "number": pgettext_lazy("import column", "number"),
    "name": pgettext_lazy("import column", "name"),
    "id_number": pgettext_lazy("import column", "id_number"),
    "category": pgettext_lazy("import column", "category"),
    "start_date": pgettext_lazy("import column", "start_date"),
    "end_date": pgettext_lazy("import column", "end_date"),
    "bank_card_no": pgettext_lazy("import column", "bank_card_no"),
    "label": pgettext_lazy("import column", "label"),
}


def _column(field: str) -> str:
    return str(COLUMN_LABELS.get(field, field))


@functools.cache
def category_by_label() -> dict[str, str]:
    """Code, label in every language of the site, or a common alias -> category. Built on first
    use under each language in turn, not under whatever language happened to be active."""
    labels = {c.value: c.value for c in Category}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            labels |= {str(c.label): c.value for c in Category}
    return labels | CATEGORY_ALIASES


class BatchRejected(BusinessError):
    """The file had bad rows; row_errors lists them as [(row number, [messages])]."""

    def __init__(self, row_errors: list[tuple[int, list[str]]]):
        self.row_errors = row_errors
        super().__init__(
            _("%(count)d row(s) have errors; nothing was applied: %(rows)s") % {
                "count": len(row_errors),
                "rows": "; ".join(_("row %(n)s: %(errors)s") % {"n": n, "errors": ", ".join(msgs)}
                                  for n, msgs in row_errors[:10]),
            }
        )


def _decode(content: bytes) -> str:
    # Units send UTF-8 (often with a BOM from Excel) or GBK from older Chinese Excel.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BusinessError(_("The file is neither UTF-8 nor GBK text."))


def batch_file_parse(*, content: bytes, filename: str, headers: dict[str, str] | None = None) -> list[dict]:
    """Rows of a CSV or XLSX file as dicts keyed by canonical column names (`headers` maps the
    names a header row may use to them); `_row` is the row number a person sees in the file (the
    header is row 1)."""
    headers = headers or HEADERS
    if len(content) > MAX_BYTES:
        raise BusinessError(_("The file is larger than %(mb)d MB.") % {"mb": MAX_BYTES // 1024 // 1024})
    name = filename.lower()
    if name.endswith(".xlsx"):
        table = _xlsx_rows(content)
    elif name.endswith(".csv") or name.endswith(".txt"):
        try:
            table = list(csv.reader(io.StringIO(_decode(content))))
        except csv.Error as exc:  # e.g. a cell over the csv module's 128 KiB field limit
            raise BusinessError(_("The file is not readable CSV: %(error)s") % {"error": exc}) from None
    else:
        raise BusinessError(_("Upload a .csv or .xlsx file."))
    if not table:
        raise BusinessError(_("The file is empty."))
    header = [headers.get(str(h or "").strip().lower(), headers.get(str(h or "").strip())) for h in table[0]]
    if not any(header):
        raise BusinessError(_("The first row must name the columns (number, name, category, end_date, …)."))
    rows = []
    for n, values in enumerate(table[1:], start=2):
        if not any(str(v or "").strip() for v in values):
            continue
        row = {"_row": n}
        for key, value in zip(header, values):
            if key:
                row[key] = value if isinstance(value, dt.date) else str(value if value is not None else "").strip()
        rows.append(row)
    if len(rows) > MAX_ROWS:
        raise BusinessError(_("A batch holds at most %(max)d rows.") % {"max": MAX_ROWS})
    return rows


def _xlsx_rows(content: bytes) -> list[list]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise BusinessError(_("The file is not a readable XLSX workbook.")) from exc
    ws = wb.worksheets[0]
    rows = [list(r) for r, _n in zip(ws.iter_rows(values_only=True), range(MAX_ROWS + 2))]
    wb.close()
    return rows


def _date(value, field: str, errors: list[str]) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(str(value), fmt).date()
        except ValueError:
            continue
    errors.append(_("%(column)s: \"%(value)s\" is not a date (YYYY-MM-DD)") % {"column": _column(field), "value": value})
    return None


def _text(value, field: str, errors: list[str], max_len: int, required: bool = False) -> str:
    value = str(value or "").strip()
    if required and not value:
        errors.append(_("%(column)s is required") % {"column": _column(field)})
    if len(value) > max_len:
        errors.append(_("%(column)s is longer than %(max)d characters") % {"column": _column(field), "max": max_len})
    if value[:1] in ("=", "+", "@") or (value[:1] == "-" and field != "number"):
        errors.append(_("%(column)s must not start with = + - @") % {"column": _column(field)})
    if any(ord(ch) < 32 for ch in value):  # NUL cannot be stored; tabs and line breaks have no place in a field
        errors.append(_("%(column)s contains control characters") % {"column": _column(field)})
        value = "".join(ch for ch in value if ord(ch) >= 32)
    return value


def batch_rows_validate(*, card_type: int, rows: list[dict], unit) -> tuple[list[dict], list[tuple[int, list[str]]]]:
    cleaned, problems, seen = [], [], {}
    for i, row in enumerate(rows, start=1):
        n = row.get("_row", i)
        errors: list[str] = []
        if card_type == CardType.CONSUMPTION:
            cleaned.append({"label": _text(row.get("label"), "label", errors, 64)})
        else:
            out = _ordinary_row(row, unit, errors)
            number = out.get("number")
            if number:
                if number in seen:
                    errors.append(_("number %(number)s appears twice in the file (row %(row)s)") % {
                        "number": number, "row": seen[number]})
                seen.setdefault(number, n)
            cleaned.append(out)
        if errors:
            problems.append((n, errors))
    return cleaned, problems


def _ordinary_row(row: dict, unit, errors: list[str]) -> dict:
    number = _text(row.get("number"), "number", errors, 32, required=True)
    name = _text(row.get("name"), "name", errors, 64, required=True)
    holder = Cardholder.objects.filter(number=number).first() if number else None
    out = {"number": number, "holder": holder, "label": _text(row.get("label"), "label", errors, 64)}
    if holder is not None:
        if holder.name != name:
            errors.append(_("number %(number)s belongs to %(holder)s, not %(name)s") % {
                "number": number, "holder": holder.name, "name": name})
        if holder.status != Cardholder.Status.ACTIVE:
            errors.append(_("%(number)s has a closed account (R-CLOSE-4)") % {"number": number})
        category, end = holder.category, holder.end_date
        if holder.cards.filter(card_type=CardType.ORDINARY, status__in=LIVE_STATUSES).exists():
            errors.append(_("%(number)s already has a live ordinary card (R-CARD-3)") % {"number": number})
    else:
        raw = str(row.get("category") or "").strip()
        category = category_by_label().get(raw)
        if category is None:
            errors.append(_("category \"%(category)s\" is unknown") % {"category": raw})
        end = _date(row.get("end_date"), "end_date", errors)
        start = _date(row.get("start_date"), "start_date", errors)
        if start and end and end < start:
            errors.append(_("%(end)s is before %(start)s") % {"end": _column("end_date"), "start": _column("start_date")})
        out["fields"] = {
            "number": number, "name": name, "category": category or "",
            "id_number": _text(row.get("id_number"), "id_number", errors, 32),
            "bank_card_no": _text(row.get("bank_card_no"), "bank_card_no", errors, 32),
            "start_date": start, "end_date": end,
        }
    if end and end < business_day():  # the card would be active yet past its validity (R-CARD-9)
        errors.append(_("%(column)s %(date)s is already past") % {"column": _column("end_date"), "date": end})
    if category in FORMAL_CATEGORIES:
        errors.append(_("%(number)s is eligible for a formal card, not an ordinary one (R-CARD-3)") % {"number": number})
    elif category == Category.SHORT_TERM:
        errors.append(_("%(number)s is a short-term visitor: consumption cards only (R-CARD-4)") % {"number": number})
    return out
