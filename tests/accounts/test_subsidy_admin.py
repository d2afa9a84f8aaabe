"""The subsidy screens: upload, preview (errors per row, nothing written), file, and the approve
button shown only to a second person (R-ADJ-1); every page in Chinese."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import LedgerAccount, SubsidyBatch, SubsidyLine
from accounts.timeutil import business_day
from tests.accounts.helpers import fast_password_hashing  # noqa: F401
from tests.campuscard.pagetext import english_words, visible_text
from tests.factories import HolderFactory

pytestmark = pytest.mark.django_db

IMPORT = "/admin/accounts/subsidybatch/import/"


def client_for(user):
    c = Client()
    c.force_login(user)
    return c


def upload(c, text, **extra):
    data = {"reason": "冬季补助", "expires_on": (business_day() + dt.timedelta(days=5)).isoformat(),
            "file": SimpleUploadedFile("list.csv", text.encode("utf-8")), **extra}
    return c.post(IMPORT, data)


def chinese(response):
    return english_words(visible_text(response.content.decode()), {"English", "Control", "Command", "Mac"})


def test_upload_preview_file_and_approve_by_another(make_user):
    HolderFactory(number="A001"), HolderFactory(number="A002")
    maker, checker = make_user("m-sub", "finance"), make_user("c-sub", "finance")
    m = client_for(maker)
    page = m.get(IMPORT)
    assert page.status_code == 200 and chinese(page) == []
    bad = upload(m, "学号/工号,金额\nA001,10\nZZZ,-1\nA001,2\n")
    assert bad.status_code == 200 and "ZZZ" in bad.content.decode() and chinese(bad) == []
    assert not SubsidyBatch.objects.exists()
    good = upload(m, "学号/工号,金额,事由\nA001,10.50,助学\nA002,5,\n", merchant_kinds=["4"])
    assert good.status_code == 200 and chinese(good) == [] and "15.50" in good.content.decode()
    assert not SubsidyBatch.objects.exists()  # a preview writes nothing
    filed = m.post(IMPORT, {"payload": good.context["payload"]})
    batch = SubsidyBatch.objects.get()
    assert filed.status_code == 302 and batch.total == 1550 and batch.merchant_kinds == ["4"]
    own = m.get(f"/admin/accounts/subsidybatch/{batch.pk}/change/")
    assert own.status_code == 200 and "subsidy-decide" not in own.content.decode() and chinese(own) == []
    m.post(f"/admin/accounts/subsidybatch/{batch.pk}/decide/", {"approve": "1"})
    assert SubsidyBatch.objects.get().status == "pending"  # R-ADJ-1: the filer cannot approve
    c = client_for(checker)
    page = c.get(f"/admin/accounts/subsidybatch/{batch.pk}/change/")
    assert "subsidy-decide" in page.content.decode() and chinese(page) == []
    c.post(f"/admin/accounts/subsidybatch/{batch.pk}/decide/", {"approve": "1"})
    assert SubsidyBatch.objects.get().status == "approved"
    assert LedgerAccount.objects.get(kind="subsidy").balance == 1550
    holder = SubsidyLine.objects.get(row_no=2).holder
    page = client_for(make_user("clerk-s", "card_centre")).get(f"/admin/accounts/cardholder/{holder.pk}/change/")
    assert "待在充值点领取的补助" in page.content.decode() and "10.50" in page.content.decode()
    for url in ("/admin/accounts/subsidybatch/", "/admin/accounts/subsidyline/",
                f"/admin/accounts/subsidyline/{SubsidyLine.objects.first().pk}/change/", "/admin/accounts/auditlog/"):
        page = c.get(url)
        assert page.status_code == 200 and chinese(page) == [], url


def test_a_tampered_preview_files_nothing(make_user):
    maker = make_user("m2-sub", "finance")
    m = client_for(maker)
    response = m.post(IMPORT, {"payload": "forged:payload"})
    assert response.status_code == 200 and not SubsidyBatch.objects.exists()
