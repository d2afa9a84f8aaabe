"""The merchant portal: its own merchant only (R-MER-4), detail for the current and previous
month only (U§10), CSV export, login lockout (django-axes)."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import get_resolver
from django.utils import timezone

from accounts.formatting import yuan

pytestmark = pytest.mark.django_db


def login(client, username):
    return client.post("/merchant/login/", {"username": username, "password": f"pw-{username}"})


def test_anonymous_is_sent_to_the_login(client):
    resp = client.get("/merchant/")
    assert resp.status_code == 302 and resp.url.startswith("/merchant/login/")


def test_merchant_signs_in_and_sees_its_revenue_chart(client, two_merchants):
    resp = login(client, "mer_a")
    assert resp.status_code == 302 and resp.url == "/merchant/"
    page = client.get("/merchant/").content.decode()
    assert 'id="chart-days"' in page and "<rect" in page
    a = two_merchants["A"]["records"]
    assert yuan(a[0].base_amount) in page  # dining: base price only (R-SUR-1)
    assert "商户A" in page and "商户B" not in page


def test_staff_and_finance_are_not_merchant_users(client, staff, finance):
    for user in (staff, finance):
        client.force_login(user)
        assert client.get("/merchant/").status_code == 403


def test_u10_detail_for_this_and_last_month_only(client, two_merchants):
    login(client, "mer_a")
    recs = two_merchants["A"]["records"]
    this_month = client.get("/merchant/records/").content.decode()
    assert str(recs[0].term_seq) in this_month
    last = timezone.localtime(recs[3].time).strftime("%Y-%m")
    assert f">{recs[3].term_seq}<" in client.get(f"/merchant/records/?month={last}").content.decode()
    old = timezone.localtime(recs[4].time).strftime("%Y-%m")
    refused = client.get(f"/merchant/records/?month={old}")
    assert refused.status_code == 403
    assert "校园卡管理中心" in refused.content.decode()
    csv_refused = client.get(f"/merchant/records.csv?month={old}")
    assert csv_refused.status_code == 403 and "校园卡管理中心" in csv_refused.content.decode()


def test_csv_export_has_own_records_in_yuan(client, two_merchants):
    login(client, "mer_a")
    resp = client.get("/merchant/records.csv")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    text = resp.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    this_month = [r for r in two_merchants["A"]["records"]
                  if timezone.localtime(r.time).month == timezone.localtime().month]
    assert len(rows) == 1 + len(this_month)
    seqs = {int(r[2]) for r in rows[1:]}
    assert seqs == {r.term_seq for r in this_month}
    assert all(r[6].count(".") == 1 for r in rows[1:])


def test_filters(client, two_merchants):
    login(client, "mer_a")
    rec = two_merchants["A"]["records"][0]
    page = client.get(f"/merchant/records/?card={rec.card_no}&status=posted").content.decode()
    assert f">{rec.term_seq}<" in page
    assert client.get("/merchant/records/?status=bogus").status_code == 404
    assert client.get("/merchant/records/?card=abc").status_code == 404


def test_r_mer_4_every_portal_url_with_another_merchants_ids_is_403_or_404(client, two_merchants):
    """Try every portal page with merchant B's ids (terminal, record, statement) while signed in
    as A: pages that take an id answer 403/404, pages that take none show A's own only."""
    import datetime as dt

    from settlement.models import Statement

    login(client, "mer_a")
    b_terminal = two_merchants["B"]["terminal"].pk
    b_record = two_merchants["B"]["records"][0].pk
    b_statement = Statement.objects.create(merchant=two_merchants["B"]["merchant"], period_start=dt.date(2026, 1, 1),
                                           period_end=dt.date(2026, 1, 31), net=987654, computed_at=timezone.now()).pk
    b_cards = {str(r.card_no * 1000 + r.term_seq) for r in two_merchants["B"]["records"]}
    resolver = get_resolver("settlement.portal.urls")
    names = [p.name for p in resolver.url_patterns if p.name not in ("login", "logout")]
    assert {"home", "records", "records-csv", "duplicates", "statements", "statement", "statement-file",
            "statement-apply", "corrections", "correction-new", "duplicate-refund"} <= set(names)
    ids = {"pk": {"statement": b_statement, "statement-file": b_statement, "statement-apply": b_statement,
                  "duplicate-refund": b_record}, "fmt": "pdf"}
    no_ids = {"duplicates", "statements", "corrections"}  # take no ids at all: show A's own only
    for name in names:
        template, params = resolver.reverse_dict.getlist(name)[0][0][0]
        url = "/merchant/" + template % {p: ids[p][name] if p == "pk" else ids[p] for p in params}
        query = {"terminal": b_terminal, "record": b_record}
        for method in (client.get, client.post):
            resp = method(url + "?" + "&".join(f"{k}={v}" for k, v in query.items()))
            if name in no_ids:
                assert resp.status_code == 200 and "商户B" not in resp.content.decode() and "9876.54" not in resp.content.decode()
                continue
            assert resp.status_code in (403, 404, 405), (url, method)
            if method == client.get:
                assert resp.status_code != 405 or name in ("statement-apply", "duplicate-refund"), url
            assert not any(c in resp.content.decode() for c in b_cards)
    assert Statement.objects.get(pk=b_statement).status == Statement.Status.OPEN


def test_r_mer_4_b_records_never_show_for_a(client, two_merchants):
    login(client, "mer_a")
    b_amounts = {yuan(r.base_amount + r.surcharge) for r in two_merchants["B"]["records"]}
    for page in (client.get("/merchant/records/").content.decode(), client.get("/merchant/").content.decode(),
                 client.get("/merchant/records.csv").content.decode()):
        assert not any(f"{a}<" in page or f",{a}," in page for a in b_amounts)


def test_five_failed_logins_lock_the_merchant_login(client, two_merchants):
    for _ in range(5):
        client.post("/merchant/login/", {"username": "mer_a", "password": "wrong"})
    locked = login(client, "mer_a")
    assert locked.status_code == 429
    assert client.get("/merchant/").status_code == 302  # not signed in


def test_logout_is_post_only_and_ends_the_session(client, two_merchants):
    login(client, "mer_a")
    assert client.get("/merchant/logout/").status_code == 405
    client.post("/merchant/logout/")
    assert client.get("/merchant/").status_code == 302


def test_portal_is_english_on_switch(client, two_merchants):
    login(client, "mer_a")
    client.post("/i18n/setlang/", {"language": "en", "next": "/merchant/"})
    assert "Revenue by month" in client.get("/merchant/").content.decode()
