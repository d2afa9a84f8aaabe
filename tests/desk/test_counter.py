"""The counter workbench through Django's test client: find a holder every way a clerk tries,
one screen with everything, each action with a confirmation and a receipt (凭条)."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import AuditLog, BlockListEntry, Card, Cardholder
from tests.accounts.helpers import fund, snapshot

from .conftest import desk_client, id_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_card(clerk, freshman):
    card = services.card_issue_formal(actor=clerk, holder=freshman)
    fund(card, 5000, clerk)
    return freshman, Card.objects.get(pk=card.pk)


def test_the_desk_asks_for_a_login_and_refuses_merchants(client, make_user):
    assert client.get("/desk/").status_code == 302
    assert "/admin/login/" in client.get("/desk/")["Location"]
    merchant = make_user("mer1", None, )
    client.force_login(merchant)
    page = client.get("/desk/")
    assert page.status_code == 403
    assert "您无权打开此页面" in page.content.decode()  # the 403 page is Chinese, not bare English


@pytest.mark.parametrize("q", ["T2026001", "t2026001", "2026", "林小雨", "小雨", "SWIPED"])
def test_find_a_holder_by_number_part_name_or_card(client, clerk, with_card, q):
    holder, card = with_card
    q = str(card.card_no) if q == "SWIPED" else q
    response = desk_client(client, clerk).get("/desk/search/", {"q": q})
    assert response.status_code == 302 and response["Location"] == f"/desk/holders/{holder.pk}/"


def test_find_by_the_last_digits_of_the_id_number(client, clerk, with_card):
    holder, _card = with_card
    response = desk_client(client, clerk).get("/desk/search/", {"q": holder.id_number[-6:]})
    assert response["Location"] == f"/desk/holders/{holder.pk}/"


def test_several_matches_are_listed_and_nobody_says_so(client, clerk, with_card, unit):
    services.holder_create(actor=clerk, number="T2026002", name="林小风", category="staff", unit=unit)
    page = desk_client(client, clerk).get("/desk/search/", {"q": "林小"}).content.decode()
    assert "T2026001" in page and "T2026002" in page
    assert "未找到" in client.get("/desk/search/", {"q": "nobody-at-all"}).content.decode()


def test_holder_page_shows_cards_purse_and_the_actions_that_apply(client, clerk, with_card):
    holder, card = with_card
    page = desk_client(client, clerk).get(f"/desk/holders/{holder.pk}/").content.decode()
    assert str(card.card_no) in page and "正式卡" in page and "正常" in page
    assert 'id="balance">50.00' in page  # the purse in yuan
    assert f"/desk/cards/{card.card_no}/loss/" in page and f"/desk/cards/{card.card_no}/replace/" in page
    assert f"/desk/cards/{card.card_no}/unloss/" not in page  # not lost: no un-loss button
    assert "/issue/" not in page  # a live formal card already: no second issue (R-CARD-2)


def test_r_issue_1_issue_a_formal_card_with_confirmation_and_receipt(client, clerk, freshman):
    desk_client(client, clerk)
    confirm = client.get(f"/desk/holders/{freshman.pk}/issue/")
    assert confirm.status_code == 200 and "首张正式卡免费" in confirm.content.decode()
    assert not freshman.cards.exists()  # a confirmation page changes nothing
    done = client.post(f"/desk/holders/{freshman.pk}/issue/", {"fee_payment": "cash"})
    card = freshman.cards.get()
    entry = AuditLog.objects.get(action="card_issue", card=card)
    assert done.status_code == 302 and done["Location"] == f"/desk/receipts/{entry.pk}/"
    receipt = client.get(done["Location"]).content.decode()
    assert "发卡" in receipt and str(card.card_no) in receipt and "林小雨" in receipt and 'id="print"' in receipt


def test_r_loss_1_r_loss_2_loss_then_cancel_with_the_id_presented(client, clerk, with_card):
    holder, card = with_card
    desk_client(client, clerk)
    client.post(f"/desk/cards/{card.card_no}/loss/", {"reason": "柜台挂失"})
    card.refresh_from_db()
    assert card.status == "lost"
    assert BlockListEntry.objects.filter(card_no=card.card_no, op=1).exists()
    before = snapshot()
    wrong = client.post(f"/desk/cards/{card.card_no}/unloss/", {"id_number": id_number(2), "reason": "本人"})
    assert wrong.status_code == 200 and "与档案中的证件号码不符" in wrong.content.decode()
    assert snapshot() == before  # refused: nothing changed
    done = client.post(f"/desk/cards/{card.card_no}/unloss/", {"id_number": holder.id_number.lower(), "reason": "本人"})
    card.refresh_from_db()
    assert card.status == "active" and "/desk/receipts/" in done["Location"]


def test_r_replace_1_replace_and_the_receipt_names_both_cards(client, clerk, with_card):
    holder, card = with_card
    desk_client(client, clerk)
    page = client.get(f"/desk/cards/{card.card_no}/replace/").content.decode()
    assert "30.00" in page  # the replacement fee in force (R-FEE-3)
    done = client.post(f"/desk/cards/{card.card_no}/replace/", {"reason": "卡片遗失", "fee_payment": "purse"})
    new = Card.objects.get(replaces=card)
    receipt = client.get(done["Location"]).content.decode()
    assert str(new.card_no) in receipt and str(card.card_no) in receipt and "30.00" in receipt
    assert "从持卡人钱包扣除" in receipt
    assert new.purse.account.balance == 2000  # 50.00 less the fee, carried over to the new card


def test_a_refused_action_shows_the_services_reason_and_changes_nothing(client, clerk, with_card):
    _holder, card = with_card
    services.card_report_loss(card=card, actor=clerk, reason="x")
    before = snapshot()
    page = desk_client(client, clerk).post(f"/desk/cards/{card.card_no}/loss/", {"reason": "again"})
    assert page.status_code == 200 and "已挂失" in page.content.decode()
    assert snapshot() == before


def test_unknown_action_and_card_are_404_and_a_cashier_cannot_issue(client, clerk, cashier, freshman):
    desk_client(client, clerk)
    assert client.get(f"/desk/holders/{freshman.pk}/explode/").status_code == 404
    assert client.get("/desk/cards/4294967295/loss/").status_code == 404
    client.force_login(cashier)
    assert client.get(f"/desk/holders/{freshman.pk}/issue/").status_code == 403
    assert client.post(f"/desk/holders/{freshman.pk}/issue/", {"fee_payment": "cash"}).status_code == 403
    assert not freshman.cards.exists()


def test_new_holder_at_the_counter_checks_the_id_number(client, clerk, unit):
    desk_client(client, clerk)
    data = {"number": "S2026777", "name": "周一", "id_number": "110108200709150010", "category": "staff",
            "unit": unit.pk, "phone": "13800000000"}
    page = client.post("/desk/holders/new/", data)
    assert page.status_code == 200 and "校验码" in page.content.decode()  # python-stdnum's check digit
    assert not Cardholder.objects.filter(number="S2026777").exists()
    data["id_number"] = id_number(77)
    done = client.post("/desk/holders/new/", data)
    assert done.status_code == 302, done.context["form"].errors
    holder = Cardholder.objects.get(number="S2026777")
    assert done["Location"] == f"/desk/holders/{holder.pk}/" and holder.phone == "13800000000"


def test_receipts_are_the_actors_or_the_centres(client, clerk, cashier, with_card, make_user):
    _holder, card = with_card
    services.card_report_loss(card=card, actor=clerk, reason="x")
    entry = AuditLog.objects.get(action="card_report_loss", card=card)
    assert desk_client(client, clerk).get(f"/desk/receipts/{entry.pk}/").status_code == 200
    client.force_login(cashier)  # not theirs, and a cashier does not read the audit log
    assert client.get(f"/desk/receipts/{entry.pk}/").status_code == 403
