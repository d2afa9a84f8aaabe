"""One source for every figure (issue 10): a mixed day posted through the real intake and posting,
closed and settled, shows the same figures on every surface — the admin day-close list and page,
the day-close XLSX and CSV, the settlement statement (finance desk, admin, department report
XLSX/PDF/CSV), the merchant portal (revenue, records, statement page and files) and the API —
and they equal the ledger's postings on the merchant payables, the catering surcharge account and
suspense.

The figures (settlement.models): 消费额 what cards were charged = 结算消费额 (the merchant's,
R-SUR-1 base at a dining merchant, R-SUR-2 the doubled water price) + 代收搭伙能源费 (the catering
centre's, R-SUR-1) + 暂挂金额 (offline without authorisation, not settled, R-TERM-2). The
management fee is 0.5% of what is actually settled (R-SET-2); the daily close checks payables,
surcharge and suspense against the records (R-DAY-1).

Every file is parsed as it is served (openpyxl, pypdf, csv) and every page from its HTML.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from openpyxl import load_workbook
from pypdf import PdfReader
from rest_framework.test import APIClient

from accounts.formatting import yuan
from accounts.models import CardType
from campuscard.api.services import api_client_create
from merchants.models import MerchantKind
from merchants.services import merchant_user_add
from settlement import services
from settlement.models import DayClose, Statement
from terminals import wire as P
from terminals.models import Record
from terminals.services import record_exception_post
from tests.accounts.helpers import fund, ordinary_card

from .conftest import after_midnight

pytestmark = pytest.mark.django_db

RECORD_SOURCES = list(services.RECORD_POSTING_SOURCES)
KINDS = {"dining": MerchantKind.DINING, "water": MerchantKind.WATER, "retail": MerchantKind.RETAIL}


# --- the day -----------------------------------------------------------------------------------

@pytest.fixture
def mixed_day(till, funded_card, merchants, admin_user, finance2, today, travel):
    """Formal, ordinary and consumption cards at a dining, a water and a retail merchant (rates:
    board + energy 15%, water 200%), with an offline record held out at two of them, a confirmed
    duplicate at a repeat offender (退一赔一), a correction form, a record staff posted from the
    exceptions and a cash top-up; then the day closed and settled."""
    tills = {k: till(v) for k, v in KINDS.items()}
    topup = till(MerchantKind.TOPUP)
    cards = {}  # one card state shared by every till: records continue each card's counter and balance
    for t in (*tills.values(), topup):
        t.cards = cards
    formal = tills["dining"].card(funded_card(50000))
    consumption = tills["dining"].card(funded_card(50000, card_type=CardType.CONSUMPTION))
    ordinary = ordinary_card(admin_user)
    fund(ordinary, 50000, admin_user)
    ordinary.refresh_from_db()
    tills["dining"].card(ordinary)
    d, w, r = tills["dining"], tills["water"], tills["retail"]
    now = int(time.time())
    d.send([d.purchase(formal, 500), d.purchase(ordinary, 400, 60),  # R-SUR-1: 15% on an ordinary card
            d.purchase(consumption, 1000, 150, at=now), d.purchase(consumption, 1000, 150, at=now + 3),  # duplicate
            d.purchase(consumption, 200, 30, flags=P.FLAG_OFFLINE)])  # held, its surcharge with it (R-TERM-2)
    w.send([w.purchase(formal, 100), w.purchase(consumption, 100, 100)])  # R-SUR-2: the doubled price is the merchant's
    r.send([r.purchase(ordinary, 4567), r.purchase(formal, 300, flags=P.FLAG_OFFLINE),
            r.purchase(consumption, 250, card_type=CardType.FORMAL)])  # an exception: the card type is wrong
    topup.send([topup.deposit(formal, 2000, admin_user.pk)])
    exception = Record.objects.get(status="exception")
    record_exception_post(actor=admin_user, record_id=exception.pk, reason="checked with the shop: the card paid")

    duplicate = Record.objects.get(problems__contains=["suspected_duplicate"])
    services.merchant_offender_set(actor=admin_user, merchant=merchants[MerchantKind.DINING], offender=True,
                                   reason="third duplicate this term")
    services.duplicate_refund(actor=admin_user, record=duplicate, reason="charged twice")  # and the original (R-DUP-2)
    over = Record.objects.get(terminal=r.terminal, base_amount=4567)
    corr = services.correction_request(actor=admin_user, record=over, amount=567, reason="45.67 keyed for 40.00",
                                       merchant_confirmed=True, holder_confirmed=True)
    services.correction_decide(actor=finance2, correction=corr, approve=True)

    travel(after_midnight(today))
    dc = services.day_close(day=today, actor=admin_user)
    services.settlement_compute(period_start=today, period_end=today)
    users = {}
    for k, kind in KINDS.items():
        users[k] = get_user_model().objects.create_user(username=f"mer_{k}", password=f"pw-mer_{k}")
        merchant_user_add(actor=admin_user, merchant=merchants[kind], user=users[k], role="contact")
        users[k] = get_user_model().objects.get(pk=users[k].pk)  # fresh: no cached permissions
    return {"day": today, "close": dc, "merchants": {k: merchants[v] for k, v in KINDS.items()}, "users": users}


def ledger_figures(day: dt.date, merchants: dict) -> dict:
    """What the ledger says, from postings alone: per merchant what terminal postings credited to its
    payable (settled), what refunds and corrections took back; the catering surcharge account's and
    suspense's credits from terminal postings; the surcharge refunds."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """SELECT a.id, a.kind, split_part(j.source, ':', 1), -SUM(p.amount)
               FROM accounts_posting p JOIN accounts_journal j ON j.id = p.journal_id
               JOIN accounts_ledgeraccount a ON a.id = p.account_id
               WHERE j.business_day = %s AND a.kind IN ('merchant', 'surcharge', 'suspense') GROUP BY 1, 2, 3""",
            [day])
        rows = cur.fetchall()
    credit = {}
    for account, kind, source, amount in rows:
        family = "records" if source in RECORD_SOURCES else source
        key = account if kind == "merchant" else kind
        credit[(key, family)] = credit.get((key, family), 0) + int(amount)
    out = {"surcharge": credit.get(("surcharge", "records"), 0), "held": credit.get(("suspense", "records"), 0),
           "surcharge_refunds": -credit.get(("surcharge", "refund-sur"), 0), "merchants": {}}
    for k, m in merchants.items():
        a = m.payable_account_id
        out["merchants"][k] = {"settled": credit.get((a, "records"), 0), "refunds": -credit.get((a, "refund"), 0),
                               "corrections": -credit.get((a, "correction"), 0)}
    out["settled"] = sum(m["settled"] for m in out["merchants"].values())
    out["charged"] = out["settled"] + out["surcharge"] + out["held"]
    return out


def test_r_day_1_the_mixed_day_is_what_the_rules_say(mixed_day):
    """The day itself, from the ledger: the close found nothing, and the split is R-SUR-1, R-SUR-2
    and R-TERM-2's (so the surfaces below are compared with the right numbers)."""
    assert mixed_day["close"].status == DayClose.Status.BALANCED, list(mixed_day["close"].exceptions.values_list(
        "detail", flat=True))
    led = ledger_figures(mixed_day["day"], mixed_day["merchants"])
    assert {k: v["settled"] for k, v in led["merchants"].items()} == {
        "dining": 500 + 400 + 1000 + 1000, "water": 100 + 200, "retail": 4567 + 250}
    assert (led["surcharge"], led["held"], led["charged"]) == (60 + 150 + 150, 230 + 300, 8907)
    assert led["merchants"]["dining"]["refunds"] == 1000 + 1150  # the duplicate's price and the original whole
    assert led["surcharge_refunds"] == 150 and led["merchants"]["retail"]["corrections"] == 567
    # Each record stored the split it was booked with (the CHECK makes them add up to the charge).
    stored = Record.objects.filter(kind=1).values_list("status", "merchant_amount", "surcharge_amount", "held_amount")
    assert sum(m for _, m, _, _ in stored) == led["settled"] and sum(s for _, _, s, _ in stored) == led["surcharge"]
    assert sum(h for _, _, _, h in stored) == led["held"] and all(m == s == 0 for st, m, s, _ in stored if st == "held")


# --- the daily close ---------------------------------------------------------------------------

def test_r_day_1_admin_day_close_and_its_files_show_the_ledger(mixed_day, client, admin_user):
    """R-DAY-1, R-SUR-1, R-SUR-2, R-TERM-2: the admin list's 消费额, the close's page and its XLSX and
    CSV agree with each other and with the ledger, per merchant and in total; the XLSX's catering
    column sums to its own footer (the demo showed 137.62 against 94.02)."""
    day, dc = mixed_day["day"], mixed_day["close"]
    led = ledger_figures(day, mixed_day["merchants"])
    client.force_login(admin_user)

    listing = client.get("/admin/settlement/dayclose/").content.decode()
    assert header_of(listing, "purchase_yuan") == "消费额(元)"
    assert cell_of(listing, "purchase_yuan") == yuan(led["charged"])
    page = client.get(f"/admin/settlement/dayclose/{dc.pk}/change/").content.decode()
    assert {f: fen_text(figure(page, f)) for f in ("purchase_amount", "settled", "surcharge_amount", "held_amount")} == {
        "purchase_amount": led["charged"], "settled": led["settled"], "surcharge_amount": led["surcharge"],
        "held_amount": led["held"]}

    xlsx = client.post("/admin/settlement/dayclose/", {"action": "download_xlsx", "_selected_action": [dc.pk]})
    ws = load_workbook(io.BytesIO(xlsx.content)).active
    rows = [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]
    csv_rows = read_csv(client.get(f"/finance/reports/day-close.csv?day={day}").content)[1:]
    for table, to_fen in ((rows, fen), (csv_rows, fen_text)):
        header, body = table[0], table[1:]
        col = {h: i for i, h in enumerate(header)}
        total = next(r for r in body if r[0] == "合计")
        by_code = {r[0]: r for r in body if r[0] in {m.code for m in mixed_day["merchants"].values()}}
        assert {to_fen(total[col[h]]) for h in ("消费额(元)",)} == {led["charged"]}
        assert to_fen(total[col["结算消费额(元)"]]) == led["settled"]
        assert to_fen(total[col["代收搭伙能源费(元)"]]) == led["surcharge"]
        assert to_fen(total[col["暂挂金额(元)"]]) == led["held"]
        for k, m in mixed_day["merchants"].items():
            row, want = by_code[m.code], led["merchants"][k]
            assert to_fen(row[col["结算消费额(元)"]]) == want["settled"], k
            assert to_fen(row[col["商户退款(元)"]]) == want["refunds"], k
            assert to_fen(row[col["纠错退款(元)"]]) == want["corrections"], k
            assert to_fen(row[col["消费额(元)"]]) == sum(to_fen(row[col[h]]) for h in (
                "结算消费额(元)", "代收搭伙能源费(元)", "暂挂金额(元)")), k
        assert sum(to_fen(r[col["代收搭伙能源费(元)"]]) for r in by_code.values()) == led["surcharge"]
        footer = next(str(r[0]) for r in body if r[0] and str(r[0]).startswith("现金充值"))
        assert footer.endswith(f"代收搭伙能源费 {yuan(led['surcharge'])}")  # the note agrees with the column
    assert led["charged"] == dc.purchase_amount


def ledger_trial_balance(day: dt.date) -> dict[str, dict]:
    """Per account kind, from the postings alone (debit-positive): opening (every earlier day),
    the day's debits and credits, closing."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """SELECT a.kind, COALESCE(SUM(p.amount) FILTER (WHERE j.business_day < %s), 0),
                      COALESCE(SUM(p.amount) FILTER (WHERE j.business_day = %s AND p.amount > 0), 0),
                      COALESCE(-SUM(p.amount) FILTER (WHERE j.business_day = %s AND p.amount < 0), 0)
               FROM accounts_posting p JOIN accounts_journal j ON j.id = p.journal_id
               JOIN accounts_ledgeraccount a ON a.id = p.account_id WHERE j.business_day <= %s GROUP BY 1""",
            [day, day, day, day])
        return {k: {"opening": int(o), "debit": int(d), "credit": int(c), "closing": int(o) + int(d) - int(c)}
                for k, o, d, c in cur.fetchall() if o or d or c}


def test_r_day_1_trial_balance_on_the_page_and_in_the_report_is_the_ledger(mixed_day, client, admin_user):
    """R-DAY-1: the day-close page's 试算平衡表 and the report's (XLSX, CSV) show, per account kind and
    in total, the ledger's opening, debits, credits and closing for the day; the totals balance."""
    day, dc = mixed_day["day"], mixed_day["close"]
    led = ledger_trial_balance(day)
    assert {r.kind: {"opening": r.opening, "debit": r.debit, "credit": r.credit, "closing": r.closing}
            for r in dc.trial_balance.all()} == led
    debit, credit = sum(v["debit"] for v in led.values()), sum(v["credit"] for v in led.values())
    assert debit == credit > 0

    def sides(amount):  # a debit-positive balance as (debit column, credit column) in fen
        return (amount, 0) if amount >= 0 else (0, -amount)

    want = {k: (*sides(v["opening"]), v["debit"], v["credit"], *sides(v["closing"])) for k, v in led.items()}
    want_total = tuple(sum(w[i] for w in want.values()) for i in range(6))
    assert want_total[2] == debit and want_total[0] == want_total[1] and want_total[4] == want_total[5]

    client.force_login(admin_user)
    page = client.get(f"/admin/settlement/dayclose/{dc.pk}/change/").content.decode()
    parsed = _parse(page).tables["trial-balance"]
    rows = {r["cells"][0]: r["cells"] for r in parsed if r["cells"] and r["cells"][0]}
    from django.utils import translation

    from settlement.day_detail import account_kind_label as label

    def account_kind_label(kind):  # as the Chinese page and report name it
        with translation.override("zh-hans"):
            return label(kind)

    for kind, w in want.items():
        cells = rows[account_kind_label(kind)]
        assert tuple(fen_text(c) if c else 0 for c in cells[1:7]) == w, kind
    assert tuple(fen_text(c) for c in rows["合计"][1:7]) == want_total
    assert 'id="trial-check"' in page and "✓" in page

    xlsx = client.get(f"/admin/settlement/dayclose/{dc.pk}/report.xlsx")
    sheet = [list(r) for r in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True)]
    csv_rows = read_csv(client.get(f"/finance/reports/day-close.csv?day={day}").content)
    for table, to_fen in ((sheet, lambda v: fen(v) if v is not None else 0),
                          (csv_rows, lambda v: fen_text(v) if v else 0)):
        start = next(i for i, r in enumerate(table) if r and r[0] and str(r[0]).startswith("试算平衡表"))
        body = {r[0]: r for r in table[start + 2:] if r and r[0]}
        for kind, w in want.items():
            assert tuple(to_fen(v) for v in body[account_kind_label(kind)][1:7]) == w, kind
        assert tuple(to_fen(v) for v in body["合计"][1:7]) == want_total


# --- the settlement statement ------------------------------------------------------------------

def expected_statements(led: dict) -> dict:
    """Code -> (结算消费额, 商户退款, 纠错退款, 暂挂金额, 管理费, 应付净额) from the ledger (R-SET-2: the
    fee is 0.5% of what is actually settled, half-up to the fen)."""
    out = {}
    for k, m in led["merchants"].items():
        base = m["settled"] - m["refunds"] - m["corrections"]
        fee = services.management_fee(base)
        out[k] = (m["settled"], m["refunds"], m["corrections"], fee, base - fee)
    out["surcharge"] = (led["surcharge"], led["surcharge_refunds"], 0, 0, led["surcharge"] - led["surcharge_refunds"])
    return out


def test_r_set_2_settlement_statement_on_screen_and_in_every_file_shows_the_ledger(mixed_day, client, admin_user):
    """R-SET-2, R-SUR-1, R-TERM-2: the finance desk, the admin list and the department settlement
    report (XLSX, PDF, CSV) give each merchant's settled consumption, refunds, corrections, held
    amount, fee and net as the ledger has them, and the catering centre's surcharge statement."""
    day = mixed_day["day"]
    led = ledger_figures(day, mixed_day["merchants"])
    want = expected_statements(led)
    held = {"dining": 230, "water": 0, "retail": 300}
    assert sum(held.values()) == led["held"]
    codes = {m.code: k for k, m in mixed_day["merchants"].items()}
    client.force_login(admin_user)

    desk = client.get(f"/finance/?start={day}&end={day}").content.decode()
    table = html_table(desk, "statements")
    assert table[0][2:5] == ["结算消费额(元)", "管理费(元)", "应付净额(元)"]  # the labels of every other surface
    seen = set()
    for row in table[1:]:
        k = codes.get(row[0].split()[0], "surcharge")
        assert [fen_text(x) for x in row[2:5]] == [want[k][0], want[k][3], want[k][4]], k
        seen.add(k)
    assert seen == {*KINDS, "surcharge"}

    admin_list = client.get("/admin/settlement/statement/").content.decode()
    for st in Statement.objects.all():
        k = codes.get(st.merchant.code if st.merchant_id else "", "surcharge")
        assert fen_text(cell_of(admin_list, "consumption", row_link=f"/{st.pk}/change/")) == want[k][0]
        assert fen_text(cell_of(admin_list, "net", row_link=f"/{st.pk}/change/")) == want[k][4]

    xlsx = load_workbook(io.BytesIO(client.get(f"/finance/reports/settlement.xlsx?start={day}&end={day}").content)).active
    csv_rows = read_csv(client.get(f"/finance/reports/settlement.csv?start={day}&end={day}").content)
    for rows, to_fen in (([list(r) for r in xlsx.iter_rows(min_row=2, values_only=True)], fen), (csv_rows[1:], fen_text)):
        col = {h: i for i, h in enumerate(rows[0])}
        for row in rows[1:]:
            if row[0] in codes or row[0] == "-":
                k = codes.get(row[0], "surcharge")
                got = tuple(to_fen(row[col[h]]) for h in ("结算消费额(元)", "商户退款(元)", "纠错退款(元)", "管理费(元)",
                                                          "应付净额(元)"))
                assert got == want[k], k
                assert to_fen(row[col["暂挂金额(元)"]]) == held.get(k, 0), k
        total = next(r for r in rows if r[0] == "合计")
        assert to_fen(total[col["结算消费额(元)"]]) == led["settled"] + led["surcharge"]
        assert to_fen(total[col["暂挂金额(元)"]]) == led["held"]

    pdf = pdf_text(client.get(f"/finance/reports/settlement.pdf?start={day}&end={day}").content)
    for code, k in [*codes.items(), ("-", "surcharge")]:
        row = pdf_row(pdf, code, 11)  # 商户编号 … 应付净额(元) 状态
        assert [row[i] for i in (3, 4, 5, 7, 8, 9)] == [yuan(want[k][0]), yuan(want[k][1]), yuan(want[k][2]),
                                                        yuan(held.get(k, 0)), yuan(want[k][3]), yuan(want[k][4])], k


# --- the merchant portal and the API -----------------------------------------------------------

def test_r_sur_1_portal_and_api_show_each_merchant_what_the_ledger_owes_it(mixed_day, client, admin_user):
    """R-SUR-1, R-SUR-2, R-TERM-2, R-SET-2: each merchant's revenue (portal page, its records, the API)
    is what its payable was credited; its statement page, XLSX and PDF and the API's settlements
    carry the statement's figures."""
    day = mixed_day["day"]
    led = ledger_figures(day, mixed_day["merchants"])
    want = expected_statements(led)
    held = {"dining": 230, "water": 0, "retail": 300}
    _client, token = api_client_create(actor=admin_user, name="figures", scopes=["revenue:read", "settlements:read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    for k, m in mixed_day["merchants"].items():
        settled, refunds, corrections, fee, net = want[k]
        client.force_login(mixed_day["users"][k])
        home = client.get("/merchant/").content.decode()
        days = {r[0]: r for r in html_table(home, "revenue-by-day")}
        assert fen_text(days[str(day)][2]) == settled, k
        records = client.get(f"/merchant/records/?month={day:%Y-%m}").content.decode()
        rows = html_table(records, "records")
        assert rows[0][4] == "结算消费额(元)"
        assert sum(fen_text(r[4]) for r in rows[1:]) == settled, k
        assert re.search(r"结算消费额\(元\) ([\d,.]+)", records)[1] == yuan(settled)

        st = Statement.objects.get(merchant=m)
        page = client.get(f"/merchant/statements/{st.pk}/").content.decode()
        facts = html_facts(page)
        assert [fen_text(facts[h]) for h in ("结算消费额(元)", "商户退款(元)", "纠错退款(元)", "管理费(元)",
                                              "应付净额(元)")] == [settled, refunds, corrections, fee, net], k
        assert fen_text(facts["暂挂金额(元)"].split()[0]) == held[k], k
        by_day = html_table(page, "days")
        assert [fen_text(x) for x in by_day[1][2:6]] == [settled, refunds, corrections, held[k]], k
        ws = load_workbook(io.BytesIO(client.get(f"/merchant/statements/{st.pk}/statement.xlsx").content)).active
        sheet = [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]
        col = {h: i for i, h in enumerate(sheet[0])}
        total = next(r for r in sheet if r[0] == "合计")
        assert [fen(total[col[h]]) for h in ("结算消费额(元)", "商户退款(元)", "纠错退款(元)", "暂挂金额(元)")] == [
            settled, refunds, corrections, held[k]], k
        notes = " ".join(str(r[0]) for r in sheet if r[0])
        assert f"{yuan(fee)} 元" in notes and yuan(net) in notes, k
        pdf = pdf_text(client.get(f"/merchant/statements/{st.pk}/statement.pdf").content)
        total = pdf_row(pdf, "合计", 7)  # 合计 消费笔数 结算消费额 商户退款 纠错退款 暂挂笔数 暂挂金额
        assert [total[i] for i in (2, 3, 4, 6)] == [yuan(settled), yuan(refunds), yuan(corrections), yuan(held[k])], k
        assert f"{yuan(net)} 元" in " ".join(pdf), k

        revenue = api.get(f"/api/v1/merchants/{m.code}/revenue/?start={day}&end={day}").json()
        assert revenue["total_fen"] == settled and revenue["rows"][0]["amount_fen"] == settled, k
        statement = api.get(f"/api/v1/merchants/{m.code}/settlements/").json()["statements"][0]
        assert [statement[f] for f in ("consumption_fen", "refunds_fen", "corrections_fen", "held_fen", "fee_fen",
                                       "net_fen")] == [settled, refunds, corrections, held[k], fee, net], k


# --- reading what was served -------------------------------------------------------------------

class _Tables(HTMLParser):
    """Every <table>'s rows as lists of cell text, by the table's id (or its position), and the
    cells of each row with their class; <dl> terms with their definitions."""

    def __init__(self):
        super().__init__()
        self.tables, self.rows, self.facts = {}, [], {}
        self._table = self._row = self._cell = None
        self._dt = self._dd = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id") or f"table{len(self.tables)}", [])
        elif tag == "tr" and self._table is not None:
            self._row = {"cells": [], "classes": {}, "links": []}
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell, self._text = a.get("class") or "", []
        elif tag == "a" and self._row is not None:
            self._row["links"].append(a.get("href") or "")
        elif tag in ("dt", "dd"):
            self._text = []
            setattr(self, f"_{tag}", True)

    def handle_endtag(self, tag):
        text = " ".join("".join(self._text).split())
        if tag in ("td", "th") and self._cell is not None:
            self._row["cells"].append(text)
            for c in self._cell.split():
                self._row["classes"][c] = text
            self._cell = None
        elif tag == "table":
            self._table = self._row = None
        elif tag == "dt" and self._dt:
            self._term, self._dt = text, None
        elif tag == "dd" and self._dd:
            self.facts[self._term], self._dd = text, None

    def handle_data(self, data):
        self._text.append(data)


def _parse(html: str) -> _Tables:
    p = _Tables()
    p.feed(html)
    return p


def html_table(html: str, table_id: str) -> list[list[str]]:
    return [r["cells"] for r in _parse(html).tables[table_id]]


def html_facts(html: str) -> dict[str, str]:
    return _parse(html).facts


def header_of(html: str, field: str) -> str:
    """The admin change list's column header of a list_display field."""
    return next(r["classes"][f"column-{field}"] for r in _parse(html).tables["result_list"]
                if f"column-{field}" in r["classes"])


def cell_of(html: str, field: str, row_link: str = "") -> str:
    """The admin change list's cell of a field, in the (first) row whose link ends with row_link."""
    return next(r["classes"][f"field-{field}"] for r in _parse(html).tables["result_list"]
                if f"field-{field}" in r["classes"] and any(link.endswith(row_link) for link in r["links"]))


def figure(html: str, field: str) -> str:
    """One of the day-close page's figures (in yuan)."""
    m = re.search(rf'class="[^"]*field-{field}\b[^"]*"><dt>.*?</dt><dd[^>]*>(.*?)</dd>', html, re.S)
    return m[1].strip()


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def pdf_text(data: bytes) -> list[str]:
    assert data.startswith(b"%PDF")
    return [ln.strip() for page in PdfReader(io.BytesIO(data)).pages for ln in page.extract_text().splitlines()]


def pdf_row(lines: list[str], first: str, cells: int) -> list[str]:
    """A table row of a report PDF: pypdf gives each cell on a line of its own."""
    i = lines.index(first)
    return lines[i:i + cells]


def fen(value) -> int:
    """A money cell of an XLSX (yuan, a number) in fen."""
    return int(Decimal(str(value)) * 100)


def fen_text(text: str) -> int:
    """Yuan as shown on a page or in a CSV ("1,234.50") in fen."""
    return int(Decimal(text.replace(",", "")) * 100)
