"""Finance in a real browser: signs in to the back office, opens the finance desk and downloads
the department settlement report; the file opens (R-SET-3, U§22)."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from tests.fronts.test_finance import FINANCE_PERMS, checked  # noqa: F401
from tests.settlement.conftest import after_midnight, till, today, travel  # noqa: F401
from tests.terminals.conftest import admin_user, funded_card, make_terminal, merchants, rates  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_finance_downloads_the_settlement_report_and_it_opens(page, checked, make_user, shot):  # noqa: F811
    from django.contrib.auth.models import Permission

    from accounts.setup import role_group

    role_group("finance").permissions.add(
        *Permission.objects.filter(content_type__app_label="settlement", codename__in=FINANCE_PERMS))
    make_user("fin_b", "finance")
    page.goto(page.base + "/admin/login/?next=/finance/")
    page.fill("#id_username", "fin_b")
    page.fill("#id_password", "pw-fin_b")
    page.click("input[type=submit]")
    page.goto(page.base + f"/finance/?start={checked.period_start}&end={checked.period_end}")
    page.wait_for_selector(f"#statement-{checked.pk}")
    shot(page, "desk")
    with page.expect_download() as info:
        page.click("#report-xlsx")
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(open(download.path(), "rb").read()))  # the temp file has no .xlsx name
    assert book.active.max_row > 1
