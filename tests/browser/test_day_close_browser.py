"""The day-close page in a real browser, in Chinese: the card centre signs in, opens a closed day
that found differences and reads its trial balance (in yuan, with the alert that it does not balance), the comparison with the
previous day and each difference with its links; one link is followed (R-DAY-1)."""

from __future__ import annotations

import pytest

from tests.settlement.conftest import finance2, till, today, travel  # noqa: F401
from tests.settlement.test_figures_agree import mixed_day  # noqa: F401
from tests.settlement.test_readable_screens import day_with_differences  # noqa: F401
from tests.terminals.conftest import admin_user, funded_card, make_terminal, merchants, rates  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_r_day_1_day_close_page_reads_in_chinese(browser, live_server, day_with_differences, shot):  # noqa: F811
    from settlement.models import CloseException

    dc = day_with_differences["second"]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        page.goto(live_server.url + f"/admin/login/?next=/admin/settlement/dayclose/{dc.pk}/change/")
        page.fill("#id_username", "gwadmin")
        page.fill("#id_password", "pw-gwadmin")
        page.click("input[type=submit]")
        page.wait_for_selector("#trial-balance")
        assert "试算平衡表" in page.inner_text("#trial-balance-panel")
        # The purse balance changed behind the ledger's back: its balances no longer sum to zero.
        alert = page.inner_text("#trial-check")
        assert alert.startswith("✗ 试算不平衡") and "期初余额" in alert and "差额 -0.07" in alert
        total = page.inner_text("#trial-balance tr.total")
        assert total.startswith("合计")
        assert "与上一日结日比较" in page.inner_text("#comparison-panel")
        purse = dc.exceptions.get(kind=CloseException.Kind.PURSE)
        row = page.inner_text(f"#difference-{purse.pk}")
        assert "0.07 元" in row and "未处理" in row
        shot(page, "day-close")
        page.click(f"#difference-{purse.pk} a:has-text('本日分录')")
        page.wait_for_selector("#postings")
        assert "持卡人电子钱包" in page.inner_text("h1")
    finally:
        context.close()
