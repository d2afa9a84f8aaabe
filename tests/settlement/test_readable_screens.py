"""Finance screens a clerk can read (issue 10): after a mixed day with differences, every page of
the admin (each registered model's list, the settlement models' pages, the day-close page), the
finance desk and the merchant portal, in Chinese, shows no fen, no JSON and no raw code — every
status, kind and problem through its label (R-DAY-1).

A page's visible text is read from its main content (attributes, scripts, styles and form
controls left out); what people typed (user names, reasons, notes) is taken out first, so that
only what the system wrote is judged.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse

from accounts.models import AdjustmentRequest, Journal, LedgerAccount
from settlement import services
from settlement.models import (
    CloseException,
    ClosureLine,
    Correction,
    DayClose,
    Refund,
    Statement,
)
from settlement.selectors import LATE_REASONS
from terminals import labels
from terminals.models import CardFlag, Record

from .conftest import after_midnight
from .test_figures_agree import mixed_day  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

CODES = {
    *Record.Status.values, *CardFlag.Kind.values, *CloseException.Kind.values, *LedgerAccount.Kind.values,
    *Journal.Kind.values, *Statement.Status.values, *Statement.Kind.values, *Refund.Kind.values,
    *Correction.Status.values, *AdjustmentRequest.Status.values, *ClosureLine.Status.values,
    *DayClose.Status.values, *LATE_REASONS, *labels.RECORD_PROBLEMS, *labels.TERMINAL_PROBLEMS,
    *labels.OTHER_EXCEPTIONS, "not_seen", "opening:purse",
}


class _Visible(HTMLParser):
    """Text a person reads in the page's main part, and the cells (td, th, dd, li) one by one."""

    SKIP = {"script", "style", "select", "option", "textarea", "button", "noscript"}

    def __init__(self, root_id: str | None, root_tag: str | None):
        super().__init__()
        self.root_id, self.root_tag = root_id, root_tag
        self.depth = 0  # inside the root when > 0
        self.skip = 0
        self.text, self.cells, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self.depth:
            self.depth += tag not in ("br", "input", "img", "meta", "link", "hr")
        elif (self.root_id and a.get("id") == self.root_id) or (self.root_tag and tag == self.root_tag):
            self.depth = 1
        if self.depth and tag in self.SKIP:
            self.skip += 1
        if self.depth and tag in ("td", "th", "dd", "li"):
            self._cell = []

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if tag in self.SKIP and self.skip:
            self.skip -= 1
        if tag in ("td", "th", "dd", "li") and self._cell is not None:
            self.cells.append(" ".join("".join(self._cell).split()))
            self._cell = None
        self.depth -= 1

    def handle_data(self, data):
        if self.depth and not self.skip:
            self.text.append(data)
            if self._cell is not None:
                self._cell.append(data)


def problems_on(html: str, typed: list[str], *, root_id=None, root_tag=None) -> list[str]:
    v = _Visible(root_id, root_tag)
    v.feed(html)
    text = " ".join(v.text)
    for t in sorted(typed, key=len, reverse=True):
        text = text.replace(t, " ")
    found = []
    if re.search(r"\(分\)|（分）|\bfen\b", text):
        found.append("fen: " + re.search(r".{0,30}(\(分\)|（分）|\bfen\b).{0,10}", text)[0])
    if re.search(r"[{\[]\s*['\"]", text):
        found.append("JSON: " + re.search(r".{0,30}[{\[]\s*['\"].{0,30}", text)[0])
    for word in re.findall(r"\b[a-z]+(?:[_:][a-z]+)+\b", text):
        found.append(f"code: {word}")
    for cell in v.cells:
        if cell in CODES:
            found.append(f"code cell: {cell}")
    return found


@pytest.fixture
def day_with_differences(mixed_day, admin_user, till, funded_card, travel):  # noqa: F811
    """The mixed day, then a second day whose close finds differences: a purse balance changed behind
    the ledger's back (a purse and a trial-balance difference) and a record that could not be posted."""
    from merchants.models import MerchantKind

    nxt = mixed_day["day"] + dt.timedelta(days=1)
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(5000))
    t.send([t.purchase(card, 300), t.purchase(card, 200, card_type=2)])  # the second: card type wrong
    account_id = card.purse.account_id
    with connection.cursor() as cur:
        cur.execute("UPDATE accounts_ledgeraccount SET balance = balance + 7 WHERE id = %s", [account_id])
    travel(after_midnight(nxt))
    try:
        dc = services.day_close(day=nxt, actor=admin_user)
    finally:
        with connection.cursor() as cur:
            cur.execute("UPDATE accounts_ledgeraccount SET balance = balance - 7 WHERE id = %s", [account_id])
    assert dc.status == DayClose.Status.EXCEPTIONS
    return {**mixed_day, "second": dc}


def _typed() -> list[str]:
    """What people typed: user names, reasons and notes (judged as they are, not as system text)."""
    out = list(get_user_model().objects.values_list("username", flat=True))
    for model, fields in ((Journal, ("reason",)), (Refund, ("reason",)), (Correction, ("reason", "decision_note")),
                          (CloseException, ("resolution",))):
        for row in model.objects.values_list(*fields):
            out += [x for x in row if x]
    from settlement.models import MerchantPolicy

    out += [x for x in MerchantPolicy.objects.values_list("reason", flat=True) if x]
    return out


def test_r_day_1_admin_pages_in_chinese_show_labels_yuan_and_no_codes(day_with_differences, client, admin_user):
    """Every admin list, the settlement models' pages, the admin index and the day-close pages."""
    client.force_login(admin_user)
    dc = day_with_differences["second"]
    urls = ["/admin/", reverse("admin:settlement_dayclose_change", args=[dc.pk]),
            reverse("admin:settlement_dayclose_change", args=[day_with_differences["close"].pk])]
    urls += [reverse("admin:settlement_dayclose_postings", args=[dc.pk, kind])
             for kind in dc.trial_balance.values_list("kind", flat=True)]
    for model in admin.site._registry:
        urls.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
    for model in (Statement, Refund, Correction, CloseException, DayClose):
        obj = model.objects.order_by("pk").first()
        if obj is not None and model is not DayClose:
            urls.append(reverse(f"admin:settlement_{model._meta.model_name}_change", args=[obj.pk]))
    typed = _typed()
    found = {}
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, url
        problems = problems_on(r.content.decode(), typed, root_id="content")
        if problems:
            found[url] = sorted(set(problems))
    assert found == {}


def test_r_day_1_day_close_page_lists_each_difference_in_words_with_links(day_with_differences, client, admin_user):
    """The differences of the day: what differs in words, in yuan, with links to what is behind it."""
    client.force_login(admin_user)
    dc = day_with_differences["second"]
    page = client.get(reverse("admin:settlement_dayclose_change", args=[dc.pk])).content.decode()
    purse = dc.exceptions.get(kind=CloseException.Kind.PURSE)
    row = re.search(rf'<tr id="difference-{purse.pk}".*?</tr>', page, re.S)[0]
    assert "0.07 元" in row and "钱包" in row
    assert reverse("admin:settlement_dayclose_postings", args=[dc.pk, "purse"]) in row
    trial = dc.exceptions.get(kind=CloseException.Kind.TRIAL_BALANCE)
    row = re.search(rf'<tr id="difference-{trial.pk}".*?</tr>', page, re.S)[0]
    assert "-0.07 元" in row and "持卡人电子钱包" in row
    record = dc.exceptions.get(kind=CloseException.Kind.RECORD)
    row = re.search(rf'<tr id="difference-{record.pk}".*?</tr>', page, re.S)[0]
    assert reverse("admin:terminals_record_change", args=[int(record.ref)]) in row
    assert "卡类型" in row  # the problem's label, not card_type_mismatch
    for e in (purse, trial, record):
        assert reverse("admin:settlement_closeexception_resolve", args=[e.pk]) in page
    assert 'id="previous"' in page  # compared with the mixed day


def test_r_day_1_finance_desk_and_portal_in_chinese_show_labels_yuan_and_no_codes(day_with_differences, client,
                                                                                  admin_user):
    day = day_with_differences["day"]
    client.force_login(admin_user)
    typed = _typed()
    found = {}
    for url in (f"/finance/?start={day}&end={day}", f"/finance/payouts/?start={day}&end={day}", "/finance/adjustments/",
                "/finance/closures/", "/finance/special-accounts/"):
        r = client.get(url)
        assert r.status_code == 200, url
        found[url] = problems_on(r.content.decode(), typed, root_tag="main")
    for k, user in day_with_differences["users"].items():
        client.force_login(user)
        st = Statement.objects.get(merchant=day_with_differences["merchants"][k])
        for url in ("/merchant/", f"/merchant/records/?month={day:%Y-%m}", "/merchant/duplicates/",
                    "/merchant/statements/", f"/merchant/statements/{st.pk}/", "/merchant/corrections/"):
            r = client.get(url)
            assert r.status_code == 200, url
            found[f"{k} {url}"] = problems_on(r.content.decode(), typed, root_tag="main")
    assert {k: v for k, v in found.items() if v} == {}


def test_r_day_1_day_close_page_reads_in_english_too(day_with_differences, client, admin_user):
    client.force_login(admin_user)
    client.cookies["django_language"] = "en"
    dc = day_with_differences["second"]
    page = client.get(reverse("admin:settlement_dayclose_change", args=[dc.pk]), HTTP_ACCEPT_LANGUAGE="en").content
    page = page.decode()
    assert "Trial balance" in page and "The trial balance does not balance" in page
    assert "Opening 0.07 yuan rebuilt from its balance" in page
