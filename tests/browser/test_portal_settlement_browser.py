"""A merchant in a real (phone-sized) browser, on the 15th: applies for last month's settlement
in the 11th–20th window (U§11, R-SET-3) and downloads its statement as PDF, which opens."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.utils import timezone

from accounts.timeutil import BUSINESS_TZ, business_day
from settlement.models import Statement
from tests.fronts.conftest import two_merchants  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def on_the_15th():
    """The clock at 10:00 on the 15th of this month (ticking), for the server thread too."""
    moment = dt.datetime.combine(business_day().replace(day=15), dt.time(10), BUSINESS_TZ)
    with time_machine.travel(moment, tick=True):
        yield moment.date()


def test_r_set_3_merchant_applies_on_the_15th_and_downloads_its_statement(page, two_merchants, on_the_15th,  # noqa: F811
                                                                          shot):
    from pypdf import PdfReader

    end = on_the_15th.replace(day=1) - dt.timedelta(days=1)
    st = Statement.objects.create(merchant=two_merchants["A"]["merchant"], period_start=end.replace(day=1),
                                  period_end=end, purchases=321, consumption=1234456, fee_base=1234456, fee=6172,
                                  net=1228284, computed_at=timezone.now())
    page.goto(page.base + "/merchant/login/")
    page.fill("#id_username", "mer_a")
    page.fill("#id_password", "pw-mer_a")
    page.click("#login")
    page.wait_for_selector("#chart-days")
    page.click("text=结算")
    page.wait_for_selector(f"#statement-{st.pk}")
    assert "12282.84" in page.inner_text(f"#statement-{st.pk}")
    shot(page, "statements")
    page.click(f"#statement-{st.pk} a.btn")  # 申请
    page.wait_for_selector("#apply-button")
    shot(page, "before-apply")
    page.click("#apply-button")
    page.wait_for_selector("p.ok")
    assert "已申请" in page.inner_text("#status")
    shot(page, "applied")
    st.refresh_from_db()
    assert st.status == Statement.Status.APPLIED and not st.applied_late
    assert st.applied_by == two_merchants["A"]["user"]
    with page.expect_download() as info:
        page.click("#download-pdf")
    download = info.value
    assert download.suggested_filename == f"statement-MA-{st.period_start}-{st.period_end}.pdf"
    data = open(download.path(), "rb").read()
    assert data.startswith(b"%PDF")
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "MA" in text and "12282.84" in text
