"""Reports finance downloads, as bytes: XLSX, PDF (Chinese via reportlab's built-in CID font
STSong-Light, no font files) and CSV (UTF-8 with BOM for Excel; formula-looking text escaped in CSV, and written as
text, never as a formula, in XLSX).

Each report is first a Table (title, headers, rows, which columns are money in fen); the three
renderers turn any Table into a file. Money is integer fen inside and yuan in the file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _

from accounts.formatting import yuan

from . import selectors
from .models import ClosureLine, DayClose, GraduationClosure, Statement

CJK_FONT = "STSong-Light"
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)
    money: set[int] = field(default_factory=set)  # column indexes holding fen
    totals: list | None = None
    notes: list[str] = field(default_factory=list)


# --- renderers -------------------------------------------------------------------------------

def _text(table: Table, value, col: int) -> str:
    if col in table.money and isinstance(value, int):
        return yuan(value)
    return "" if value is None else str(value)


def csv_safe(cell: str) -> str:
    """A cell a spreadsheet would run as a formula (= + - @, tab, CR) gets a leading apostrophe;
    plain numbers such as -1.00 are left as numbers."""
    if cell and cell[0] in "=+-@\t\r" and not _NUMBER.match(cell):
        return "'" + cell
    return cell


def table_csv(table: Table) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([csv_safe(table.title)])
    w.writerow([csv_safe(h) for h in table.headers])
    for row in table.rows + ([table.totals] if table.totals else []):
        w.writerow([csv_safe(_text(table, v, i)) for i, v in enumerate(row)])
    for note in table.notes:
        w.writerow([csv_safe(note)])
    return buf.getvalue().encode("utf-8-sig")


def table_xlsx(table: Table) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    # Excel forbids []:*?/\ in a sheet title (openpyxl raises): a cohort or name may hold them.
    ws.title = re.sub(r"[\[\]:*?/\\]", "-", table.title)[:31] or "report"
    ws.append([table.title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(table.headers)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in table.rows + ([table.totals] if table.totals else []):
        values = []
        for i, v in enumerate(row):
            if i in table.money and isinstance(v, int):
                values.append(Decimal(v) / 100)  # yuan, exact; shown with two decimals
            else:
                values.append(v)
        ws.append(values)
        for i in table.money:
            ws.cell(row=ws.max_row, column=i + 1).number_format = "#,##0.00"
    if table.totals:
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
    for note in table.notes:
        ws.append([note])
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


def table_pdf(table: Table) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), title=table.title, leftMargin=24, rightMargin=24,
                            topMargin=24, bottomMargin=24)
    title = ParagraphStyle("t", fontName=CJK_FONT, fontSize=14, leading=18)
    small = ParagraphStyle("n", fontName=CJK_FONT, fontSize=8, leading=10)
    data = [table.headers] + [[_text(table, v, i) for i, v in enumerate(row)]
                              for row in table.rows + ([table.totals] if table.totals else [])]
    t = LongTable(data, repeatRows=1)
    style = [
        ("FONT", (0, 0), (-1, -1), CJK_FONT, 8),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
    ]
    style += [("ALIGN", (i, 1), (i, -1), "RIGHT") for i in table.money]
    if table.totals:
        style.append(("BACKGROUND", (0, -1), (-1, -1), colors.whitesmoke))
    t.setStyle(TableStyle(style))
    story = [Paragraph(table.title, title), Spacer(1, 8), t]
    story += [Paragraph(n, small) for n in table.notes]
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
    tb = dc.totals.get("trial_balance", {})
    table.notes += [
        _("状态") + f": {dc.get_status_display()}; " + _("未解决差异") + f": {dc.open_exceptions}",
        _("借方合计") + f" {yuan(tb.get('debit', 0))} / " + _("贷方合计") + f" {yuan(tb.get('credit', 0))}",
        _("现金充值") + f" {yuan(dc.deposit_amount)}; " + _("代收搭伙能源费") + f" {yuan(dc.surcharge_amount)}",
        _("消费额 = 结算消费额 + 代收搭伙能源费 + 暂挂金额；暂挂为未经授权的脱机消费，不予结算 (R-TERM-2)。"),
    ]
    for op in dc.operators.select_related("operator").order_by("operator_id"):
        table.notes.append(_("充值员") + f" {op.operator}: " + _("应交现金") + f" {yuan(op.cash_to_hand_over)}")
    for e in dc.exceptions.filter(resolved_at__isnull=True).order_by("kind", "id")[:200]:
        table.notes.append(f"{e.get_kind_display()} {e.ref}: {e.detail}")
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
