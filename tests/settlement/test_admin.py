"""The settlement admin pages: thin views over the services and reports."""

import pytest

from merchants.models import MerchantKind
from settlement.models import DayClose, Statement

from .conftest import after_midnight

pytestmark = pytest.mark.django_db


def test_r_day_1_staff_run_the_close_and_download_reports_from_the_admin(client, admin_user, till, funded_card,
                                                                        today, travel):
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(5000))
    t.send([t.purchase(card, 300)])
    travel(after_midnight(today))
    client.force_login(admin_user)
    for name in ("dayclose", "closeexception", "statement", "correction", "refund", "merchantpolicy",
                 "graduationclosure"):
        assert client.get(f"/admin/settlement/{name}/").status_code == 200, name
    assert client.get("/admin/accounts/adjustmentrequest/").status_code == 200
    r = client.post("/admin/settlement/dayclose/run/", {"day": today.isoformat()})
    assert r.status_code == 302 and DayClose.objects.get(day=today).records == 1
    r = client.post("/admin/settlement/dayclose/run/", {"day": after_midnight(today).date().isoformat()})
    assert r.status_code == 200 and "尚未结束，暂不能日结" in r.content.decode()  # the admin speaks zh-hans by default
    dc = DayClose.objects.get(day=today)
    r = client.post("/admin/settlement/dayclose/", {"action": "download_xlsx", "_selected_action": [dc.pk]})
    assert r.status_code == 200 and r["Content-Disposition"].endswith('.xlsx"')
    r = client.post("/admin/settlement/statement/compute/", {"period_start": today, "period_end": today})
    assert r.status_code == 302 and Statement.objects.count() == 1
    r = client.post("/admin/settlement/statement/report/", {"period_start": today, "period_end": today, "fmt": "pdf"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
