"""A merchant in a real (phone-sized) browser: signs in, sees its revenue chart, exports its
detail as CSV (R-MER-4, U§10)."""

from __future__ import annotations

import csv
import io

import pytest

from tests.fronts.conftest import two_merchants  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_merchant_sees_revenue_chart_and_exports_detail(page, two_merchants, shot):  # noqa: F811
    page.goto(page.base + "/merchant/")
    page.fill("#id_username", "mer_a")
    page.fill("#id_password", "pw-mer_a")
    page.click("#login")
    page.wait_for_selector("#chart-days")
    assert page.locator("#chart-days rect").count() >= 30  # one bar per day
    shot(page, "revenue")
    page.click("text=消费明细")
    page.wait_for_selector("#records")
    shot(page, "detail")
    with page.expect_download() as info:
        page.click("#export")
    download = info.value
    assert download.suggested_filename.startswith("MA-") and download.suggested_filename.endswith(".csv")
    text = open(download.path(), encoding="utf-8-sig").read()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "时间" and len(rows) >= 2
    b_cards = {str(r.card_no) for r in two_merchants["B"]["records"]} - {str(r.card_no) for r in two_merchants["A"]["records"]}
    assert not any(r[3] in b_cards for r in rows[1:])
