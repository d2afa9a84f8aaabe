"""Reports finance downloads, as bytes: XLSX, PDF and CSV (UTF-8 with BOM for Excel;
formula-looking text escaped in CSV, and written as text, never as a formula, in XLSX).

Each report is first a Table (title, headers, rows, which columns are money in fen, and further
sections such as the day's trial balance); the three renderers turn any Table into a file. Money
is integer fen inside and yuan in the file: in XLSX a number with two decimals (never text),
counts as integers and days as dates.

PDFs embed their Chinese font (a subset of a TrueType CJK font: Debian's fonts-wqy-microhei,
which `make fonts` installs, or the file REPORT_CJK_FONT / $CAMPUSCARD_REPORT_FONT names); only
when none is found do they fall back to reportlab's built-in STSong-Light, which is not embedded
(a reader without it shows boxes), and say so in the log. Every PDF ends with signature lines
(制表 / 审核 / 负责人, with the date). Text that people typed (merchant and holder names, bank
details) reaches reportlab's Paragraph only through pdf_paragraph, which escapes its markup.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.formatting import yuan

from . import day_detail, selectors
from .models import ClosureLine, DayClose, GraduationClosure, Statement

log = logging.getLogger(__name__)

# TrueType (glyf) CJK fonts reportlab can subset and embed, in order of preference. (Noto CJK is
# CFF-based, which reportlab cannot embed.)
CJK_FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei: Apache-2.0 or GPL-3+ with font exception
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # fonts-wqy-zenhei: GPL-2 with font exception
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # fonts-arphic-uming: Arphic Public License
)
CJK_FONT = "CampusCardCJK"  # the embedded font's name inside our PDFs
CID_FALLBACK = "STSong-Light"  # reportlab's built-in CID font: not embedded
MONEY_FORMAT = "#,##0.00"  # yuan with two decimals
DATE_FORMAT = "yyyy-mm-dd"
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)
    money: set[int] = field(default_factory=set)  # column indexes holding fen
    totals: list | None = None
    notes: list[str] = field(default_factory=list)
    sections: list[Table] = field(default_factory=list)  # further tables, each with its own title and headers


# --- renderers -------------------------------------------------------------------------------

def _text(table: Table, value, col: int) -> str:
    if col in table.money and isinstance(value, int):
        return yuan(value)
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if timezone.is_aware(value) else str(value)
    return "" if value is None else str(value)


def _body(table: Table) -> list[list]:
    return table.rows + ([table.totals] if table.totals else [])


def csv_safe(cell: str) -> str:
    """A cell a spreadsheet would run as a formula (= + - @, tab, CR) gets a leading apostrophe;
    plain numbers such as -1.00 are left as numbers."""
    if cell and cell[0] in "=+-@\t\r" and not _NUMBER.match(cell):
        return "'" + cell
    return cell


def table_csv(table: Table) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    for i, t in enumerate([table, *table.sections]):
        if i:
            w.writerow([""])  # a blank line between sections (one empty cell: readers index row[0])
        w.writerow([csv_safe(t.title)])
        w.writerow([csv_safe(h) for h in t.headers])
        for row in _body(t):
            w.writerow([csv_safe(_text(t, v, i)) for i, v in enumerate(row)])
        for note in t.notes:
            w.writerow([csv_safe(note)])
    return buf.getvalue().encode("utf-8-sig")


def _xlsx_value(table: Table, value, col: int):
    """Money as an exact number of yuan, counts and days as they are (numbers, dates)."""
    if col in table.money and isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value) / 100
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        return timezone.localtime(value).replace(tzinfo=None)  # Excel has no time zones: Beijing time
    return value


def _xlsx_table(ws, table: Table) -> None:
    from openpyxl.styles import Font

    ws.append([table.title])
    ws.cell(row=ws.max_row, column=1).font = Font(bold=True, size=14)
    ws.append(table.headers)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for row in _body(table):
        ws.append([_xlsx_value(table, v, i) for i, v in enumerate(row)])
        for cell in ws[ws.max_row]:
            if cell.column - 1 in table.money and isinstance(cell.value, (int, float, Decimal)):
                cell.number_format = MONEY_FORMAT
            elif isinstance(cell.value, dt.datetime):
                cell.number_format = DATE_FORMAT + " hh:mm"
            elif isinstance(cell.value, dt.date):
                cell.number_format = DATE_FORMAT
    if table.totals:
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
    for note in table.notes:
        ws.append([note])


def table_xlsx(table: Table) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    # Excel forbids []:*?/\ in a sheet title (openpyxl raises): a cohort or name may hold them.
    ws.title = re.sub(r"[\[\]:*?/\\]", "-", table.title)[:31] or "report"
    for i, t in enumerate([table, *table.sections]):
        if i:
            ws.append([])
        _xlsx_table(ws, t)
    for i, h in enumerate(table.headers):
        ws.column_dimensions[ws.cell(row=2, column=i + 1).column_letter].width = max(10, len(h) * 2 + 2)
    for row in ws.iter_rows():
        for cell in row:
            if cell.data_type == "f":  # openpyxl makes any str starting with "=" a formula: keep it text
                cell.data_type = "s"
                cell.quotePrefix = True
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def cjk_font_file() -> str | None:
    """The TrueType CJK font file the PDFs embed: the configured one, else the first installed."""
    configured = getattr(settings, "REPORT_CJK_FONT", None) or os.environ.get("CAMPUSCARD_REPORT_FONT")
    for path in ([configured] if configured else []) + list(CJK_FONT_FILES):
        if path and os.path.isfile(path):
            return path
    return None


def cjk_font() -> str:
    """Register the Chinese font once; its name for reportlab styles. Embedded (subset) when a
    TrueType CJK font is installed, else the built-in CID font with a warning in the log."""
    from reportlab.pdfbase import pdfmetrics

    registered = pdfmetrics.getRegisteredFontNames()
    if CJK_FONT in registered:
        return CJK_FONT
    path = cjk_font_file()
    if path:
        from reportlab.pdfbase.ttfonts import TTFont

        pdfmetrics.registerFont(TTFont(CJK_FONT, path, subfontIndex=0))
        return CJK_FONT
    if CID_FALLBACK not in registered:
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        log.warning("No TrueType CJK font found (%s; run `make fonts`): report PDFs use %s, which is not "
                    "embedded", ", ".join(CJK_FONT_FILES), CID_FALLBACK)
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
    return CID_FALLBACK


def pdf_paragraph(text, style):
    """The one way text becomes a reportlab Paragraph: its mini-markup escaped, so a name such as
    `A&B <b>`, `<img src=/etc/passwd>` or `<a href=…>` is printed as typed, never parsed (a
    parsed <img> reads a local file, <a> makes a link, a stray & or < fails the whole PDF)."""
    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text)), style)


def _pdf_table(t: Table, font: str):
    from reportlab.lib import colors
    from reportlab.platypus import LongTable, TableStyle

    data = [t.headers] + [[_text(t, v, i) for i, v in enumerate(row)] for row in _body(t)]
    grid = LongTable(data, repeatRows=1)
    style = [
        ("FONT", (0, 0), (-1, -1), font, 8),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
    ]
    style += [("ALIGN", (i, 1), (i, -1), "RIGHT") for i in t.money]
    if t.totals:
        style.append(("BACKGROUND", (0, -1), (-1, -1), colors.whitesmoke))
    grid.setStyle(TableStyle(style))
    return grid


def _signatures(font: str):
    """制表 / 审核 / 负责人 with the date, for signing the printed report."""
    from reportlab.platypus import Table as Grid
    from reportlab.platypus import TableStyle

    line = "_" * 14
    grid = Grid([[f"{_('制表')}：{line}", f"{_('审核')}：{line}", f"{_('负责人')}：{line}",
                  f"{_('日期')}：{'_' * 6}{_('年')}{'_' * 3}{_('月')}{'_' * 3}{_('日')}"]], hAlign="LEFT")
    grid.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), font, 10), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 24)]))
    return grid


def table_pdf(table: Table) -> bytes:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import SimpleDocTemplate, Spacer

    font = cjk_font()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), title=table.title, leftMargin=24, rightMargin=24,
                            topMargin=24, bottomMargin=24)
    title = ParagraphStyle("t", fontName=font, fontSize=14, leading=18)
    heading = ParagraphStyle("h", fontName=font, fontSize=11, leading=15)
    small = ParagraphStyle("n", fontName=font, fontSize=8, leading=10)
    story = []
    for i, t in enumerate([table, *table.sections]):
        story += [pdf_paragraph(t.title, title if i == 0 else heading), Spacer(1, 6), _pdf_table(t, font)]
        story += [pdf_paragraph(n, small) for n in t.notes]
        story.append(Spacer(1, 10))
    printed = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    story += [Spacer(1, 14), _signatures(font), Spacer(1, 4), pdf_paragraph(f"{_('打印时间')}：{printed}", small)]
    doc.build(story)
    return buf.getvalue()


RENDERERS = {"xlsx": table_xlsx, "pdf": table_pdf, "csv": table_csv}
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
}


# --- the department settlement report (部门结算报表, U§22) ---------------------------------------

def settlement_report_table(*, period_start: dt.date, period_end: dt.date) -> Table:
    table = Table(
        title=f"{_('部门结算报表')} {period_start} — {period_end}",
        headers=[_("商户编号"), _("商户名称"), _("消费笔数"), _("结算消费额(元)"), _("商户退款(元)"), _("纠错退款(元)"),
                 _("暂挂笔数"), _("暂挂金额(元)"), _("管理费(元)"), _("应付净额(元)"), _("状态")],
        money={3, 4, 5, 7, 8, 9},
    )
    sums = [0] * 11
    for st in selectors.statements_for(period_start=period_start, period_end=period_end).order_by("kind", "merchant__code"):
        if st.kind == Statement.Kind.SURCHARGE:
            code, name = "-", _("饮食服务中心代收搭伙费和能源费")
        else:
            code, name = st.merchant.code, st.merchant.name
        row = [code, name, st.purchases, st.consumption, st.refunds, st.corrections, st.held_count, st.held_amount,
               st.fee, st.net, str(st.get_status_display())]
        table.rows.append(row)
        for i in (2, 3, 4, 5, 6, 7, 8, 9):
            sums[i] += row[i]
    sums[0], sums[1], sums[10] = _("合计"), "", ""
    table.totals = sums
    table.notes.append(_("管理费按实际结算消费额的千分之五计收，每次结算四舍五入到分 (M§43)。"))
    return table


def settlement_report_xlsx(*, period_start: dt.date, period_end: dt.date) -> bytes:
    return table_xlsx(settlement_report_table(period_start=period_start, period_end=period_end))


def settlement_report_pdf(*, period_start: dt.date, period_end: dt.date) -> bytes:
    return table_pdf(settlement_report_table(period_start=period_start, period_end=period_end))


def settlement_report_csv(*, period_start: dt.date, period_end: dt.date) -> bytes:
    return table_csv(settlement_report_table(period_start=period_start, period_end=period_end))


# --- the daily close report ------------------------------------------------------------------

def day_close_table(*, day: dt.date) -> Table:
    dc = DayClose.objects.get(day=day)
    facts = selectors.merchant_facts(merchant_ids=dc.merchants.values_list("merchant_id", flat=True))
    # The figures of settlement.models (消费额 = 结算消费额 + 代收搭伙能源费 + 暂挂金额), each the
    # merchant's sum of what posting stored in its records; the column totals equal the day's.
    table = Table(
        title=f"{_('对帐日结报表')} {day}",
        headers=[_("商户编号"), _("商户名称"), _("消费笔数"), _("消费额(元)"), _("代收搭伙能源费(元)"),
                 _("结算消费额(元)"), _("暂挂金额(元)"), _("商户退款(元)"), _("纠错退款(元)")],
        money={3, 4, 5, 6, 7, 8},
    )
    for m in dc.merchants.order_by("merchant_id"):
        f = facts.get(m.merchant_id, {"code": m.merchant_id, "name": ""})
        table.rows.append([f["code"], f["name"], m.purchases, m.purchase_amount, m.surcharge_amount, m.settled,
                           m.held_amount, m.refunds, m.corrections])
    table.totals = [_("合计"), ""] + [sum(r[i] for r in table.rows) for i in range(2, 9)]
    table.notes += [
        _("状态") + f": {dc.get_status_display()}; " + _("未解决差异") + f": {dc.open_exceptions}",
        _("现金充值") + f" {yuan(dc.deposit_amount)}; " + _("代收搭伙能源费") + f" {yuan(dc.surcharge_amount)}",
        _("消费额 = 结算消费额 + 代收搭伙能源费 + 暂挂金额；暂挂为未经授权的脱机消费，不予结算 (R-TERM-2)。"),
    ]
    for op in dc.operators.select_related("operator").order_by("operator_id"):
        table.notes.append(_("充值员") + f" {op.operator}: " + _("应交现金") + f" {yuan(op.cash_to_hand_over)}")
    for d in day_detail.differences(dc):
        if d["exception"].resolved_at is None:
            amount = f"{yuan(d['amount'])} {_('元')}" if d["money"] else str(d["amount"])
            table.notes.append(f"{d['kind_label']} {d['subject']}: {d['text']} ({amount})")
    table.sections.append(trial_balance_table(dc=dc))
    return table


def trial_balance_table(*, dc: DayClose) -> Table:
    """The day's 试算平衡表 (settlement.day_detail.trial_balance), as the day-close page shows it."""
    tb = day_detail.trial_balance(dc)
    table = Table(
        title=f"{_('试算平衡表')} {dc.day}",
        headers=[_("账户类别"), _("期初借方(元)"), _("期初贷方(元)"), _("本日借方(元)"), _("本日贷方(元)"),
                 _("期末借方(元)"), _("期末贷方(元)"), _("分录数")],
        money={1, 2, 3, 4, 5, 6},
    )
    cols = ("opening_debit", "opening_credit", "debit", "credit", "closing_debit", "closing_credit")
    for r in tb["rows"]:
        table.rows.append([r["label"], *(r[c] for c in cols), r["postings"]])
    table.totals = [_("合计"), *(tb["totals"][c] for c in cols), tb["totals"]["postings"]]
    table.notes.append(_("借贷平衡") + " ✓" if tb["balanced"] else _("借贷不平衡") + " ✗: " + "; ".join(
        f"{c['label']} {yuan(c['debit'])} / {yuan(c['credit'])}" for c in tb["checks"] if not c["ok"]))
    return table


def day_close_report(*, day: dt.date, fmt: str = "xlsx") -> bytes:
    return RENDERERS[fmt](day_close_table(day=day))


# --- payout list and bank files --------------------------------------------------------------

def payout_list_table(*, period_start: dt.date | None = None, period_end: dt.date | None = None) -> Table:
    table = Table(title=_("结算付款清单"), headers=[_("结算期"), _("收款方"), _("应付净额(元)"), _("管理费(元)"),
                                                  _("状态"), _("银行流水号")], money={2, 3})
    total = 0
    for st in selectors.statements_payable(period_start=period_start, period_end=period_end):
        who = str(st.merchant) if st.merchant_id else _("饮食服务中心")
        table.rows.append([f"{st.period_start}…{st.period_end}", who, st.net, st.fee, str(st.get_status_display()),
                           st.bank_ref])
        total += st.net
    table.totals = [_("合计"), "", total, sum(r[3] for r in table.rows), "", ""]
    return table


def payout_list(*, period_start: dt.date | None = None, period_end: dt.date | None = None, fmt: str = "xlsx") -> bytes:
    return RENDERERS[fmt](payout_list_table(period_start=period_start, period_end=period_end))


def closure_bank_file_csv(*, closure: GraduationClosure) -> bytes:
    """The bank transfer file of a graduation closure (R-CLOSE-2): one line per balance paid out."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["序号", "银行卡号", "姓名", "学号", "金额(元)"])
    for i, line in enumerate(closure.lines.filter(status=ClosureLine.Status.PAID).select_related("holder"), start=1):
        w.writerow([i, csv_safe(line.bank_card_no), csv_safe(line.holder.name), csv_safe(line.holder.number),
                    yuan(line.amount)])
    return buf.getvalue().encode("utf-8-sig")


def closure_unpaid_table(*, closure: GraduationClosure) -> Table:
    """Holders of the cohort not closed (no bank card, or refused): finance handles them."""
    table = Table(title=f"{_('未能关闭的账户')} {closure.cohort}", headers=[_("学号"), _("姓名"), _("余额(元)"),
                                                                      _("原因")], money={2})
    for line in closure.lines.exclude(status__in=[ClosureLine.Status.PAID, ClosureLine.Status.CLOSED]).select_related("holder"):
        why = line.get_status_display() + (f": {line.detail}" if line.status == ClosureLine.Status.FAILED and line.detail
                                           else "")
        table.rows.append([line.holder.number, line.holder.name, line.amount, why])
    return table
