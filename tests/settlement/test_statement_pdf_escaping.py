"""Control (issue 10): statement PDFs escape merchant and holder text. reportlab's Paragraph reads
a mini-markup: a merchant named `A&B <b>` gave a 500, `<img src=/etc/passwd>` read a local file
into the PDF, `<a href>` made a clickable link. Every Paragraph goes through
settlement.reports.pdf_paragraph; these tests try each through the portal and the reports."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from pypdf import PdfReader

from merchants.models import MerchantKind
from merchants.services import merchant_user_add
from settlement import reports, services
from settlement.models import Statement

from .conftest import after_midnight

pytestmark = pytest.mark.django_db

HOSTILE = {
    "ampersand": "A&B <b>",
    "image": "<img src=/etc/passwd>",
    "link": '<a href="https://evil.example/pay">pay here</a>',
}


@pytest.fixture
def statement(till, funded_card, today, travel, merchants, admin_user):
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(5000))
    t.send([t.purchase(card, 300)])
    travel(after_midnight(today))
    services.day_close(day=today)
    services.settlement_compute(period_start=today, period_end=today)
    return Statement.objects.get(merchant=merchants[MerchantKind.RETAIL])


def _hostile(statement, text: str):
    """The merchant's name, its bank and account name (what the statement prints) set to `text`
    (the row written directly, past the M§42 payout guard: how it got there is another control's
    business, tests/controls/test_merchant_payout.py)."""
    m = statement.merchant
    m.name, m.bank_name, m.bank_account_name, m.bank_account_no = text, text, text, "6222020200112233445"
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")  # triggers off for this one write
        m.save(update_fields=["name", "bank_name", "bank_account_name", "bank_account_no"])
        cur.execute("SET LOCAL session_replication_role = origin")
    statement.refresh_from_db()
    return statement


def _portal_pdf(client, admin_user, statement) -> bytes:
    user = get_user_model().objects.create_user(username="shop", password="pw-shop-1")
    merchant_user_add(actor=admin_user, merchant=statement.merchant, user=user, role="contact")
    client.force_login(get_user_model().objects.get(pk=user.pk))
    r = client.get(f"/merchant/statements/{statement.pk}/statement.pdf")
    assert r.status_code == 200  # was a 500 for `A&B <b>`
    return r.content


def _text(data: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def test_statement_pdf_escapes_markup_ampersand_and_bold_print_as_typed(statement, client, admin_user):
    data = _portal_pdf(client, admin_user, _hostile(statement, HOSTILE["ampersand"]))
    assert "A&B <b>" in _text(data)


def test_statement_pdf_escapes_markup_img_reads_no_local_file(statement, client, admin_user):
    data = _portal_pdf(client, admin_user, _hostile(statement, HOSTILE["image"]))
    assert "<img src=/etc/passwd>" in _text(data)
    for page in PdfReader(io.BytesIO(data)).pages:  # no image was drawn from the file
        assert "/XObject" not in page["/Resources"]
    assert b"root:" not in data


def test_statement_pdf_escapes_markup_a_href_makes_no_link(statement, client, admin_user):
    data = _portal_pdf(client, admin_user, _hostile(statement, HOSTILE["link"]))
    assert "pay here" in _text(data) and '<a href="https://evil.example/pay">' in _text(data)
    for page in PdfReader(io.BytesIO(data)).pages:
        assert "/Annots" not in page
    assert b"/URI" not in data


@pytest.mark.parametrize("kind", HOSTILE)
def test_statement_pdf_escapes_markup_in_every_report_that_prints_the_merchant(statement, kind, today):
    """The finance desk's settlement report and payout list print the same names."""
    from settlement.finance.files import payout_table

    _hostile(statement, HOSTILE[kind])
    for data in (reports.settlement_report_pdf(period_start=today, period_end=today),
                 reports.table_pdf(payout_table()),
                 reports.table_pdf(reports.Table(title=HOSTILE[kind], headers=["x"], notes=[HOSTILE[kind]]))):
        assert data.startswith(b"%PDF") and b"/URI" not in data
    assert str(reports.pdf_paragraph(HOSTILE[kind], _style()).text) == str(
        HOSTILE[kind]).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _style():
    from reportlab.lib.styles import ParagraphStyle

    return ParagraphStyle("t", fontName=reports.cjk_font())
