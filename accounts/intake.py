"""Freshmen and staff intake (新生/教职工信息导入) from the student information system or the
personnel office: a CSV/XLSX file at the desk (photos in a ZIP beside it), or rows sent by the
registry through the API.

Nothing is written before a person (or the registry) has seen the check: intake_preview stores
the checked rows, each marked new / update / unchanged / error, with the reasons; intake_apply
then creates or updates the holders a chunk at a time (the desk's progress bar drives it, one
transaction per chunk, so a long intake never holds locks for minutes and can be resumed). Rows
with errors are never applied; the others are, each through holder_create / holder_update (their
own checks and audit). Cards are not issued here: a first formal card is issued to the applicant
in person (R-ISSUE-1); the production file gives the card printer each holder's face data and photo.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from . import identity, photos, services, validity
from .errors import BusinessError
from .imports import MAX_BYTES, MAX_ROWS, _date, _text, batch_file_parse, category_by_label
from .models import (
    FORMAL_CATEGORIES,
    POSTGRADUATE_CATEGORIES,
    STUDENT_CATEGORIES,
    Cardholder,
    CardType,
    Category,
    Entry,
    Intake,
    IntakeRow,
    Unit,
)
from .timeutil import business_day

CHUNK = 200
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png")
MAX_ZIP_BYTES = 200 * 1024 * 1024

HEADERS = {
    "number": "number", "学号/工号": "number", "学号": "number", "工号": "number", "编号": "number",
    "name": "name", "姓名": "name",
    "id_number": "id_number", "身份证号": "id_number", "证件号": "id_number", "证件号码": "id_number",
    "category": "category", "类别": "category", "人员类别": "category",
    "entry": "entry", "入学季": "entry", "入学季节": "entry",
    "unit": "unit", "单位": "unit", "院系": "unit", "部门": "unit", "单位代码": "unit",
    "start_date": "start_date", "入学日期": "start_date", "入职日期": "start_date", "开始日期": "start_date",
    "end_date": "end_date", "预计毕业日期": "end_date", "毕业日期": "end_date", "截止日期": "end_date",
    "graduation_year": "graduation_year", "毕业年份": "graduation_year", "预计毕业年份": "graduation_year",
    "phone": "phone", "手机": "phone", "手机号": "phone", "手机号码": "phone",
    "bank_card_no": "bank_card_no", "银行卡号": "bank_card_no",
    "photo": "photo", "照片": "photo",
}
COLUMNS = ["number", "name", "id_number", "category", "entry", "unit", "start_date", "end_date",
           "graduation_year", "phone", "bank_card_no", "photo"]
COLUMN_LABELS = {
    "number": pgettext_lazy("import column", "number"),
    "name": pgettext_lazy("import column", "name"),
    "id_number": pgettext_lazy("import column", "id_number"),
    "category": pgettext_lazy("import column", "category"),
    "entry": pgettext_lazy("import column", "entry"),
    "unit": pgettext_lazy("import column", "unit"),
    "start_date": pgettext_lazy("import column", "start_date"),
    "end_date": pgettext_lazy("import column", "end_date"),
    "graduation_year": pgettext_lazy("import column", "graduation_year"),
    "phone": pgettext_lazy("import column", "phone"),
    "bank_card_no": pgettext_lazy("import column", "bank_card_no"),
    "photo": pgettext_lazy("import column", "photo"),
}
ENTRY_ALIASES = {"spring": Entry.SPRING, "春": Entry.SPRING, "春季": Entry.SPRING, "春季入学": Entry.SPRING,
                 "autumn": Entry.AUTUMN, "fall": Entry.AUTUMN, "秋": Entry.AUTUMN, "秋季": Entry.AUTUMN,
                 "秋季入学": Entry.AUTUMN}
# What registries call the formal categories (R-CARD-2), beside the labels and codes.
CATEGORY_ALIASES = {"本科生": Category.UNDERGRADUATE, "本科": Category.UNDERGRADUATE, "专科生": Category.JUNIOR_COLLEGE,
                    "专科": Category.JUNIOR_COLLEGE, "硕士": Category.MASTER, "硕士生": Category.MASTER,
                    "博士": Category.DOCTORAL, "博士生": Category.DOCTORAL, "教职工": Category.STAFF,
                    "在编": Category.STAFF, "退休": Category.RETIREE, "离退休": Category.RETIREE,
                    "人才派遣": Category.TALENT_DISPATCH, "留学生": Category.INTL_EXCHANGE,
                    "交流生": Category.INTL_EXCHANGE}
# Fields an update may change, in the order the preview lists them.
SYNCED = ("name", "id_number", "category", "entry", "unit", "start_date", "end_date", "phone", "bank_card_no")


def _col(field: str) -> str:
    return str(COLUMN_LABELS.get(field, field))


# --- reading the file ---------------------------------------------------------------

def intake_file_rows(*, content: bytes, filename: str) -> list[dict]:
    """The rows of an intake CSV/XLSX (the same reader as the units' batch files)."""
    rows = batch_file_parse(content=content, filename=filename, headers=HEADERS)
    if not rows:
        raise BusinessError(_("The file has no rows below its header."))
    return rows


def intake_photos_from_zip(content: bytes) -> dict[str, bytes]:
    """name (lowercase, without folders) -> bytes of every JPEG/PNG in a ZIP of photos."""
    if len(content) > MAX_ZIP_BYTES:
        raise BusinessError(_("The ZIP of photos is larger than %(mb)d MB.") % {"mb": MAX_ZIP_BYTES // 1024 // 1024})
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        out, total = {}, 0
        for info in archive.infolist():
            name = info.filename.rsplit("/", 1)[-1].lower()
            if info.is_dir() or not name.endswith(PHOTO_EXTENSIONS) or name.startswith("."):
                continue
            if info.file_size > photos.MAX_BYTES:  # what the archive says; the read below is capped too
                out[name] = b"\0" * (photos.MAX_BYTES + 1)
                continue
            total += info.file_size
            if total > MAX_ZIP_BYTES or len(out) > MAX_ROWS:
                raise BusinessError(_("The ZIP holds more photos than an intake can take."))
            with archive.open(info) as f:
                out[name] = f.read(photos.MAX_BYTES + 1)
        return out
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError):
        raise BusinessError(_("The photos must be one ZIP file of JPEG or PNG images.")) from None


# --- checking the rows ----------------------------------------------------------------

def _entry(value: str, errors: list[str]) -> str:
    raw = str(value or "").strip()
    if not raw:
        return ""
    entry = ENTRY_ALIASES.get(raw.lower()) or ENTRY_ALIASES.get(raw)
    if entry is None:
        errors.append(_("%(column)s \"%(value)s\" is neither spring nor autumn") % {"column": _col("entry"), "value": raw})
        return ""
    return entry


def _graduation(category: str, entry: str, year_text: str, errors: list[str]) -> dt.date | None:
    """A graduation year in the file gives the normal graduation date of R-CARD-6."""
    try:
        year = int(str(year_text).strip().split(".")[0])
        if not 2000 <= year <= 2100:
            raise ValueError
    except ValueError:
        errors.append(_("%(column)s \"%(value)s\" is not a year") % {"column": _col("graduation_year"), "value": year_text})
        return None
    if category in POSTGRADUATE_CATEGORIES:
        if not entry:
            return None  # the missing entry is reported on its own
        return dt.date(year, 6, 30) if entry == Entry.SPRING else dt.date(year, 9, 30)
    if category in (Category.UNDERGRADUATE, Category.JUNIOR_COLLEGE):
        return dt.date(year, 7, 31)
    errors.append(_("%(column)s: give the end date itself for this category") % {"column": _col("graduation_year")})
    return None


def _check_row(row: dict, units: dict[str, Unit], errors: list[str]) -> dict:
    """The row's fields, cleaned as holder_create takes them (dates as dates, unit as a Unit)."""
    number = str(row.get("number") or "").strip()
    try:
        number = identity.holder_number_clean(number)
    except BusinessError as exc:
        errors.append(f"{_col('number')}: {exc.messages[0]}")
    name = _text(row.get("name"), "name", errors, 64, required=True)
    raw_category = str(row.get("category") or "").strip()
    category = category_by_label().get(raw_category) or CATEGORY_ALIASES.get(raw_category)
    if category is None:
        errors.append(_("category \"%(category)s\" is unknown") % {"category": raw_category})
    elif category not in FORMAL_CATEGORIES:
        errors.append(_("%(category)s: ordinary and consumption cards come through the unit's batch application "
                        "(R-ISSUE-2), not the intake") % {"category": Category(category).label})
    entry = _entry(row.get("entry"), errors)
    if category in POSTGRADUATE_CATEGORIES and not entry:
        errors.append(_("%(column)s is required for a postgraduate (spring or autumn)") % {"column": _col("entry")})
    if entry and category not in POSTGRADUATE_CATEGORIES:
        entry = ""  # only postgraduates have an entry season (the database says so too)
    id_number = ""
    if not str(row.get("id_number") or "").strip():
        errors.append(_("%(column)s is required") % {"column": _col("id_number")})
    else:
        try:
            id_number = identity.id_number_clean(str(row.get("id_number")), category=category or "")
        except BusinessError as exc:
            errors.append(exc.messages[0])
    unit = None
    raw_unit = str(row.get("unit") or "").strip()
    if raw_unit:
        unit = units.get(raw_unit.lower())
        if unit is None:
            errors.append(_("%(column)s \"%(value)s\" is not a unit of the card centre") % {
                "column": _col("unit"), "value": raw_unit})
    start = _date(row.get("start_date"), "start_date", errors)
    end = _date(row.get("end_date"), "end_date", errors)
    if end is None and str(row.get("graduation_year") or "").strip():
        end = _graduation(category, entry, row.get("graduation_year"), errors)
    if category in STUDENT_CATEGORIES and end is None and not any("end_date" in e for e in errors):
        errors.append(_("%(column)s: a student needs the expected graduation date (or year)") % {
            "column": _col("end_date")})
    if start and end and end < start:
        errors.append(_("%(end)s is before %(start)s") % {"end": _col("end_date"), "start": _col("start_date")})
    if end and end < business_day():
        errors.append(_("%(column)s %(date)s is already past") % {"column": _col("end_date"), "date": end})
    phone = ""
    try:
        phone = identity.phone_clean(str(row.get("phone") or ""))
    except BusinessError as exc:
        errors.append(exc.messages[0])
    bank = _text(row.get("bank_card_no"), "bank_card_no", errors, 32)
    if bank and not (bank.isascii() and bank.isdigit() and 12 <= len(bank) <= 19):
        errors.append(_("%(column)s \"%(value)s\" is not a bank card number (12 to 19 digits)") % {
            "column": _col("bank_card_no"), "value": bank})
    return {"number": number, "name": name, "id_number": id_number, "category": category or "", "entry": entry,
            "unit": unit, "start_date": start, "end_date": end, "phone": phone, "bank_card_no": bank}


def _as_data(fields: dict) -> dict:
    """JSON for the preview: dates ISO, the unit as its id."""
    out = {}
    for k, v in fields.items():
        if isinstance(v, dt.date):
            v = v.isoformat()
        elif isinstance(v, Unit):
            v = v.pk
        out[k] = v if v is not None else ""
    return out


def _from_data(data: dict) -> dict:
    out = {k: data.get(k, "") for k in SYNCED}
    for k in ("start_date", "end_date"):
        out[k] = dt.date.fromisoformat(out[k]) if out[k] else None
    out["unit"] = Unit.objects.filter(pk=out["unit"]).first() if out["unit"] else None
    return out


def _changes(holder: Cardholder, fields: dict) -> list[str]:
    changed = []
    for k in SYNCED:
        new, old = fields[k], getattr(holder, k)
        if k == "unit":
            new, old = new.pk if new else None, holder.unit_id
        if k in ("id_number", "phone", "bank_card_no") and not new:
            continue  # the registry leaves out what it does not know; what we have stays
        if new != old:
            changed.append(k)
    return changed


@transaction.atomic
def intake_preview(*, actor, rows: list[dict], source: str = Intake.Source.FILE, filename: str = "",
                   photo_files: dict[str, bytes] | None = None) -> Intake:
    """Check every row and keep the result for a person to see; no holder is written. Photos are
    taken from `photo_files` by the row's photo column or, failing that, its number."""
    services.permission_require(actor, "accounts.add_intake")
    if not rows:
        raise BusinessError(_("The intake has no rows."))
    if len(rows) > MAX_ROWS:
        raise BusinessError(_("An intake holds at most %(max)d rows.") % {"max": MAX_ROWS})
    photo_files = photo_files or {}
    units: dict[str, Unit] = {}
    for unit in Unit.objects.all():
        units[unit.code.lower()] = unit
        units.setdefault(unit.name.lower(), unit)
    numbers = [str(r.get("number") or "").strip() for r in rows]
    existing = {h.number: h for h in Cardholder.objects.filter(number__in=[n for n in numbers if n])}
    ids = {str(r.get("id_number") or "").replace(" ", "").upper() for r in rows} - {""}
    ids_on_file: dict[str, list[str]] = {}
    for id_no, number in (Cardholder.objects.filter(id_number__in=ids, status=Cardholder.Status.ACTIVE)
                          .values_list("id_number", "number")):
        ids_on_file.setdefault(id_no, []).append(number)
    intake = Intake.objects.create(source=source, filename=filename[:200], actor=actor, rows_total=len(rows))
    seen_numbers: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    lines = []
    for i, row in enumerate(rows, start=1):
        n = row.get("_row", i) if isinstance(row.get("_row", i), int) else i
        errors: list[str] = []
        fields = _check_row(row, units, errors)
        number, id_number = fields["number"], fields["id_number"]
        if number and number in seen_numbers:
            errors.append(_("number %(number)s appears twice in the file (row %(row)s)") % {
                "number": number, "row": seen_numbers[number]})
        seen_numbers.setdefault(number, n)
        if id_number and id_number in seen_ids:
            errors.append(_("ID number %(id)s appears twice in the file (row %(row)s)") % {
                "id": identity_masked(id_number), "row": seen_ids[id_number]})
        seen_ids.setdefault(id_number, n)
        holder = existing.get(number)
        other = next((n for n in ids_on_file.get(id_number, []) if n != number), None) if id_number else None
        if other is not None:
            errors.append(_("ID number %(id)s is already on file for holder %(number)s") % {
                "id": identity_masked(id_number), "number": other})
        if holder is not None and holder.status != Cardholder.Status.ACTIVE:
            errors.append(_("%(number)s has a closed account (R-CLOSE-4)") % {"number": number})
        photo_path, photo_name = "", str(row.get("photo") or "").strip().lower()
        candidates = [photo_name] if photo_name else [f"{number.lower()}{ext}" for ext in PHOTO_EXTENSIONS]
        found = next((c for c in candidates if c in photo_files), None)
        if photo_name and found is None:
            errors.append(_("photo %(name)s is not in the ZIP of photos") % {"name": photo_name})
        if found is not None and not errors:
            try:
                photos.photo_check(photo_files[found])  # decoded and re-encoded when applied
            except BusinessError as exc:
                errors.append(f"{_col('photo')} {found}: {exc.messages[0]}")
            else:
                photo_path = default_storage.save(f"photos/intake-{intake.pk}/{n}.src", ContentFile(photo_files[found]))
        changes: list[str] = []
        if errors:
            action = IntakeRow.Action.ERROR
        elif holder is None:
            action = IntakeRow.Action.CREATE
        else:
            changes = _changes(holder, fields)
            action = IntakeRow.Action.UPDATE if changes or photo_path else IntakeRow.Action.SAME
        lines.append(IntakeRow(intake=intake, row_no=n, action=action, data=_as_data(fields), changes=changes,
                               errors=errors, photo=photo_path, holder=holder))
    IntakeRow.objects.bulk_create(lines, batch_size=1000)
    intake.rows_bad = sum(1 for x in lines if x.action == IntakeRow.Action.ERROR)
    intake.save(update_fields=["rows_bad"])
    services.audit_write(action="intake_preview", actor=actor, intake=intake.pk, rows=len(lines), bad=intake.rows_bad,
                         file=filename[:100])
    return intake


def identity_masked(id_number: str) -> str:
    return Cardholder(id_number=id_number).id_number_masked


def intake_apply(*, actor, intake: Intake, limit: int | None = None) -> Intake:
    """Apply the next `limit` rows (new holders created, changed ones updated) in one transaction;
    returns the intake with its counters. Call again until its status is done. Two callers at once
    take turns (the intake row is locked), so no row is ever applied twice."""
    services.permission_require(actor, "accounts.add_intake")
    with transaction.atomic():
        intake = Intake.objects.select_for_update().get(pk=intake.pk)
        if intake.status in (Intake.Status.DONE, Intake.Status.CANCELLED):
            return intake
        if intake.status == Intake.Status.PREVIEW:
            intake.status = Intake.Status.APPLYING
        pending = list(intake.lines.filter(applied=False).exclude(action=IntakeRow.Action.ERROR)
                       .order_by("row_no")[:limit or CHUNK])
        for line in pending:
            _apply_line(actor, intake, line)
        if not intake.lines.filter(applied=False).exclude(action=IntakeRow.Action.ERROR).exists():
            intake.status, intake.finished_at = Intake.Status.DONE, timezone.now()
            services.audit_write(action="intake_apply", actor=actor, intake=intake.pk, created=intake.created,
                                 updated=intake.updated, bad=intake.rows_bad)
        intake.save()
    return intake


def _apply_line(actor, intake: Intake, line: IntakeRow) -> None:
    fields = _from_data(line.data)
    reason = _("intake #%(id)s row %(row)s") % {"id": intake.pk, "row": line.row_no}
    try:
        with transaction.atomic():
            if line.action == IntakeRow.Action.CREATE:
                name, category = fields.pop("name"), fields.pop("category")
                holder = services.holder_create(actor=actor, number=line.data["number"], name=name, category=category,
                                                **{k: v for k, v in fields.items() if v not in ("", None)})
                intake.created += 1
            else:
                holder = Cardholder.objects.get(number=line.data["number"])
                changes = {k: fields[k] for k in line.changes}
                if changes:
                    holder = services.holder_update(actor=actor, holder=holder, reason=reason, **changes)
                if changes or line.photo:
                    intake.updated += 1
            if line.photo:
                try:
                    with default_storage.open(line.photo, "rb") as staged:
                        jpeg = photos.photo_normalise(staged.read())
                except OSError:
                    raise BusinessError(_("The photo of this row is no longer there; import it again.")) from None
                path = default_storage.save(line.photo.rsplit(".", 1)[0] + ".jpg", ContentFile(jpeg))
                Cardholder.objects.filter(pk=holder.pk).update(photo=path)
                services.audit_write(action="holder_photo", actor=actor, holder=holder, reason=reason)
                # The upload as it came goes once the row is written; the re-encoded photo stays.
                transaction.on_commit(lambda staged=line.photo: default_storage.delete(staged))
    except BusinessError as exc:  # the holder changed since the preview: this row waits for a person
        line.action, line.errors = IntakeRow.Action.ERROR, [" ".join(str(m) for m in exc.messages)]
        intake.rows_bad += 1
        line.save(update_fields=["action", "errors"])
        return
    line.applied, line.holder = True, holder
    line.save(update_fields=["applied", "holder"])
    intake.rows_done += 1


@transaction.atomic
def intake_cancel(*, actor, intake: Intake) -> Intake:
    services.permission_require(actor, "accounts.add_intake")
    intake = Intake.objects.select_for_update().get(pk=intake.pk)
    if intake.status != Intake.Status.PREVIEW:
        raise BusinessError(_("Only an intake not yet applied can be cancelled."))
    intake.status, intake.finished_at = Intake.Status.CANCELLED, timezone.now()
    intake.save(update_fields=["status", "finished_at"])
    services.audit_write(action="intake_cancel", actor=actor, intake=intake.pk)
    return intake


# --- what goes to the card printer ----------------------------------------------------

PRODUCTION_COLUMNS = ["学号/工号", "姓名", "人员类别", "单位", "有效期至", "照片"]


def intake_production_rows(*, intake: Intake) -> list[dict]:
    """The holders an applied intake created or updated who have no live formal card yet, with the
    face data of their card: the validity a card issued today would get (R-CARD-6)."""
    today = business_day()
    holders = (Cardholder.objects.filter(pk__in=intake.lines.filter(applied=True).values("holder_id"))
               .exclude(cards__card_type=CardType.FORMAL, cards__status__in=("active", "lost", "frozen", "expired"))
               .select_related("unit").order_by("number"))
    rows = []
    for h in holders:
        try:
            valid = validity.initial_validity(CardType.FORMAL, h, today)
        except BusinessError:
            valid = None
        rows.append({"holder": h, "valid_until": valid,
                     "photo": f"photos/{h.number}.jpg" if h.photo else ""})
    return rows


def intake_production_zip(*, intake: Intake) -> bytes:
    """A ZIP for the card printer: cards.csv (UTF-8 with BOM, for Excel) and photos/<number>.jpg."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow(PRODUCTION_COLUMNS)
        for r in intake_production_rows(intake=intake):
            h = r["holder"]
            writer.writerow([h.number, h.name, h.get_category_display(), h.unit.name if h.unit else "",
                             r["valid_until"].isoformat() if r["valid_until"] else "", r["photo"]])
            if h.photo:
                try:
                    with default_storage.open(h.photo.name, "rb") as f:
                        archive.writestr(r["photo"], f.read())
                except OSError:
                    pass  # a photo file lost from storage: the row says which to take again
        archive.writestr("cards.csv", "\ufeff" + table.getvalue())
    return buf.getvalue()


def intake_template_csv() -> bytes:
    """An empty intake file with the Chinese header row the desk offers for download."""
    names = {"number": "学号/工号", "name": "姓名", "id_number": "身份证号", "category": "人员类别", "entry": "入学季",
             "unit": "单位", "start_date": "入学日期", "end_date": "预计毕业日期", "graduation_year": "毕业年份",
             "phone": "手机号", "bank_card_no": "银行卡号", "photo": "照片"}
    table = io.StringIO()
    csv.writer(table).writerow([names[c] for c in COLUMNS])
    return ("\ufeff" + table.getvalue()).encode()


__all__ = ["MAX_BYTES", "intake_apply", "intake_cancel", "intake_file_rows", "intake_photos_from_zip",
           "intake_preview", "intake_production_zip", "intake_template_csv"]
