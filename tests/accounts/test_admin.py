"""The card centre's admin: pages, buttons, roles, batch import and translations."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts import services
from accounts.formatting import fen_from_yuan, yuan
from accounts.models import (
    AdjustmentRequest,
    AuditLog,
    BlockListEntry,
    Card,
    Cardholder,
    CardStatus,
    CardType,
    FeeSchedule,
    IssueBatch,
    Journal,
    LedgerAccount,
)
from tests.accounts.helpers import adjust
from tests.factories import HolderFactory, UnitFactory

pytestmark = pytest.mark.django_db

ID_NUMBER = "110101200001011234"  # HolderFactory's
ID_MASKED = "1101**********1234"


def holder_url(holder):
    return reverse("admin:accounts_cardholder_change", args=[holder.pk])


def card_action_url(card, slug):
    return reverse(f"admin:accounts_card_{slug}", args=[card.pk])


def holder_action_url(holder, slug):
    return reverse(f"admin:accounts_cardholder_{slug}", args=[holder.pk])


def readonly_value(html: str, field: str) -> str:
    m = re.search(rf'field-{field}\b.*?<div class="readonly">(.*?)</div>', html, re.S)
    assert m, f"no read-only field {field}"
    return m.group(1).strip()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def holder_with_card(staff):
    holder = HolderFactory()
    card = services.card_issue_formal(actor=staff, holder=holder)
    return holder, card


# --- formatting -----------------------------------------------------------------------

def test_yuan_formats_fen_with_two_decimals():
    assert yuan(0) == "0.00"
    assert yuan(5) == "0.05"
    assert yuan(123456) == "1234.56"
    assert yuan(-1205) == "-12.05"
    assert fen_from_yuan("12.34") == 1234
    with pytest.raises(ValueError):
        fen_from_yuan("1.234")


# --- search and the holder page -------------------------------------------------------

def test_search_by_card_number_finds_the_holder(client, staff, holder_with_card):
    holder, card = holder_with_card
    HolderFactory()  # someone else
    client.force_login(staff)
    r = client.get(reverse("admin:accounts_cardholder_changelist"), {"q": str(card.card_no)})
    assert r.status_code == 200
    assert list(r.context["cl"].result_list) == [holder]


def test_search_by_number_and_name(client, staff):
    a = HolderFactory(number="S2026001", name="张三丰")
    HolderFactory(number="S2026002", name="李四")
    client.force_login(staff)
    url = reverse("admin:accounts_cardholder_changelist")
    assert list(client.get(url, {"q": "S2026001"}).context["cl"].result_list) == [a]
    assert list(client.get(url, {"q": "三丰"}).context["cl"].result_list) == [a]


def test_holder_list_shows_masked_id_number(client, staff):
    HolderFactory()
    client.force_login(staff)
    html = client.get(reverse("admin:accounts_cardholder_changelist")).content.decode()
    assert ID_MASKED in html
    assert ID_NUMBER not in html


def test_holder_page_shows_masked_id_purse_cards_and_history(client, staff, finance, holder_with_card):
    """The purse figures are shown in yuan: 库 (account), 卡 (last card balance), 过渡余额 (pending). R-ADJ-1."""
    holder, card = holder_with_card
    adjust(holder, "refund_holder", 1234, by=finance, reason="bank diff")
    client.force_login(staff)
    r = client.get(holder_url(holder))
    assert r.status_code == 200
    html = r.content.decode()
    assert ID_MASKED in html
    assert ID_NUMBER not in html
    assert readonly_value(html, "purse_balance") == "12.34"
    assert readonly_value(html, "purse_card_balance") == "0.00"
    assert readonly_value(html, "purse_pending") == "12.34"
    assert str(card.card_no) in html  # the cards inline
    assert 'id="audit-history"' in html and "bank diff" in html  # the history


def test_view_only_holder_page_shows_masked_id_only(client, finance):
    HolderFactory()
    holder = Cardholder.objects.get()
    client.force_login(finance)
    html = client.get(holder_url(holder)).content.decode()
    assert readonly_value(html, "id_number_display") == ID_MASKED
    assert ID_NUMBER not in html


# --- cardholders are created and changed through the services --------------------------

def test_add_holder_goes_through_holder_create(client, staff):
    unit = UnitFactory()
    client.force_login(staff)
    r = client.post(reverse("admin:accounts_cardholder_add"), {
        "number": "T9001", "name": "王五", "id_number": "110101199001011237", "category": "staff", "entry": "",
        "unit": unit.pk, "start_date": "", "end_date": "", "bank_card_no": "",
    })
    assert r.status_code == 302, r.context and r.context["adminform"].form.errors
    holder = Cardholder.objects.get(number="T9001")
    assert holder.purse.account.kind == LedgerAccount.Kind.PURSE
    assert AuditLog.objects.filter(action="holder_create", holder=holder, actor=staff).exists()


def test_change_holder_goes_through_holder_update_and_keeps_id_number(client, staff, holder_with_card):
    holder, card = holder_with_card
    client.force_login(staff)
    r = client.post(holder_url(holder), {
        "name": "新名字", "id_number": "", "category": holder.category, "entry": "", "unit": holder.unit_id,
        "start_date": "2025-09-01", "end_date": "2029-06-30", "bank_card_no": holder.bank_card_no,
        "change_reason": "name corrected",
        "cards-TOTAL_FORMS": "1", "cards-INITIAL_FORMS": "1", "cards-MIN_NUM_FORMS": "0", "cards-MAX_NUM_FORMS": "0",
        "cards-0-id": card.pk, "cards-0-holder": holder.pk,
    })
    assert r.status_code == 302, r.context and r.context["adminform"].form.errors
    holder.refresh_from_db()
    assert holder.name == "新名字"
    assert holder.id_number == ID_NUMBER  # an empty field keeps the number on file
    entry = AuditLog.objects.get(action="holder_update", holder=holder)
    assert entry.actor == staff and entry.reason == "name corrected" and "name" in entry.data["changed"]


def test_service_refusal_on_change_shows_form_error_and_changes_nothing(client, staff, monkeypatch):
    holder = HolderFactory()
    old_name = holder.name

    def refuse(**kwargs):
        raise services.BusinessError("Refused by the service.")

    monkeypatch.setattr(services, "holder_update", refuse)
    client.force_login(staff)
    r = client.post(holder_url(holder), {
        "name": "不会保存", "id_number": "", "category": holder.category, "entry": "", "unit": holder.unit_id,
        "start_date": "2025-09-01", "end_date": "2029-06-30", "bank_card_no": holder.bank_card_no,
        "cards-TOTAL_FORMS": "0", "cards-INITIAL_FORMS": "0", "cards-MIN_NUM_FORMS": "0", "cards-MAX_NUM_FORMS": "0",
    })
    assert r.status_code == 200
    assert "Refused by the service." in r.context["adminform"].form.non_field_errors()
    holder.refresh_from_db()
    assert holder.name == old_name


# --- buttons ---------------------------------------------------------------------------

def test_report_loss_button_changes_status_and_writes_audit(client, staff, holder_with_card):
    """R-LOSS-1: staff report a loss from the holder page; the card is blocked and the action audited."""
    holder, card = holder_with_card
    client.force_login(staff)
    url = card_action_url(card, "report_loss")
    assert url in client.get(holder_url(holder)).content.decode()
    assert client.get(url).status_code == 200
    r = client.post(url, {"reason": "lost in the canteen", "next": holder_url(holder)})
    assert r.status_code == 302 and r["Location"] == holder_url(holder)
    card.refresh_from_db()
    assert card.status == CardStatus.LOST
    entry = AuditLog.objects.get(action="card_report_loss", card=card)
    assert entry.actor == staff and entry.channel == "staff" and entry.reason == "lost in the canteen"
    assert BlockListEntry.objects.filter(card_no=card.card_no, op=1).exists()  # R-TERM-3


def test_business_error_is_shown_and_nothing_changes(client, staff, holder_with_card):
    """R-LOSS-2: reversing a loss that was never reported is refused by the service."""
    holder, card = holder_with_card
    client.force_login(staff)
    audit_before = AuditLog.objects.count()
    r = client.post(card_action_url(card, "reverse_loss"), {"reason": "found it"})
    assert r.status_code == 200
    assert any(f"卡 {card.card_no} 未挂失" in m for m in messages_of(r))  # the service's message, in the admin's Chinese
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE
    assert AuditLog.objects.count() == audit_before


def test_reason_is_required_where_the_service_needs_one(client, staff, holder_with_card):
    """R-FREEZE-1: a freeze needs a reason."""
    _, card = holder_with_card
    client.force_login(staff)
    r = client.post(card_action_url(card, "freeze"), {"reason": "  "})
    assert r.status_code == 200 and "reason" in r.context["form"].errors
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE


def test_loss_reverse_freeze_unfreeze_replace_extend_through_buttons(client, staff, holder_with_card):
    """R-LOSS-2, R-FREEZE-1, R-REPLACE-1, R-CARD-6 through the admin buttons."""
    holder, card = holder_with_card
    client.force_login(staff)
    client.post(card_action_url(card, "report_loss"), {"reason": ""})
    assert client.post(card_action_url(card, "reverse_loss"), {"reason": "found, ID seen"}).status_code == 302
    assert client.post(card_action_url(card, "freeze"), {"reason": "卡库不平"}).status_code == 302
    card.refresh_from_db()
    assert card.status == CardStatus.FROZEN
    assert client.post(card_action_url(card, "unfreeze"), {"reason": "resolved"}).status_code == 302
    r = client.post(card_action_url(card, "replace"), {"reason": "damaged", "fee_payment": "cash"})
    assert r.status_code == 302
    new = Card.objects.get(replaces=card)
    assert r["Location"] == reverse("admin:accounts_card_change", args=[new.pk])
    r = client.post(card_action_url(new, "extend"), {"reason": "study extended", "until": "",
                                                     "proof_end_date": "2030-06-30"})
    assert r.status_code == 302, messages_of(r)
    new.refresh_from_db()
    assert str(new.valid_until) == "2030-07-31"


def test_issue_formal_card_and_kiosk_password(client, staff):
    """R-ISSUE-1: a formal card is issued from the holder page."""
    holder = HolderFactory()
    client.force_login(staff)
    assert client.post(holder_action_url(holder, "issue_formal"), {"fee_payment": "cash"}).status_code == 302
    assert holder.cards.get().card_type == CardType.FORMAL
    r = client.post(holder_action_url(holder, "kiosk_password"), {"password1": "123456", "password2": "123456"})
    assert r.status_code == 302
    assert AuditLog.objects.filter(action="holder_kiosk_password", holder=holder).exists()


@pytest.mark.parametrize("amount", ["-5.00", "0", "0.00", "abc", "1.234", ""])
def test_adjustment_with_bad_amount_is_rejected_and_changes_nothing(client, finance, amount):
    """R-ADJ-1: the amount is yuan with at most two decimals, greater than zero."""
    holder = HolderFactory()
    client.force_login(finance)
    journals, audit = Journal.objects.count(), AuditLog.objects.count()
    r = client.post(holder_action_url(holder, "adjust"), {"kind": "refund_holder", "amount": amount, "reason": "bank"})
    assert r.status_code == 200
    assert "amount" in r.context["form"].errors
    assert Journal.objects.count() == journals and AuditLog.objects.count() == audit
    holder.purse.account.refresh_from_db()
    assert holder.purse.account.balance == 0


def test_adjustment_in_yuan_is_requested_in_fen_and_posted_when_approved(client, finance, superuser):
    """R-ADJ-1: 12.34 yuan refunded to the holder is 1234 fen, pending to the card, once another
    person approves the request the holder page filed."""
    holder = HolderFactory()
    client.force_login(finance)
    r = client.post(holder_action_url(holder, "adjust"), {"kind": "refund_holder", "amount": "12.34", "reason": "bank"})
    assert r.status_code == 302
    req = AdjustmentRequest.objects.get()
    assert req.amount == 1234 and req.status == "pending" and not Journal.objects.filter(kind="adjustment").exists()
    services.adjustment_decide(actor=superuser, request=req, approve=True)
    purse = holder.purse
    purse.refresh_from_db()
    purse.account.refresh_from_db()
    assert purse.account.balance == 1234 and purse.pending == 1234
    assert AuditLog.objects.get(action="account_adjust").data == {"kind": "refund_holder", "amount": 1234,
                                                                  "request": req.pk, "requested_by": finance.pk}


def test_adjustment_refused_by_service_shows_error(client, finance):
    """R-ADJ-1: the campus card cannot be debited below zero."""
    holder = HolderFactory()
    client.force_login(finance)
    r = client.post(holder_action_url(holder, "adjust"),
                    {"kind": "debit_campus_card", "amount": "5.00", "reason": "bank"})
    assert r.status_code == 200
    assert any("钱包余额只有 0 分" in m for m in messages_of(r))
    assert not Journal.objects.filter(kind="adjustment").exists()


def test_close_account_with_cash_payout(client, finance, staff, holder_with_card):
    """R-CLOSE-1: finance closes the account and pays out the balance."""
    holder, card = holder_with_card
    adjust(holder, "refund_holder", 500, by=finance, reason="bank diff")
    client.force_login(finance)
    r = client.post(holder_action_url(holder, "close"), {"payout": "cash", "reason": "graduated"})
    assert r.status_code == 302
    holder.refresh_from_db()
    card.refresh_from_db()
    assert holder.status == Cardholder.Status.CLOSED and card.status == CardStatus.CLOSED
    assert holder.purse.account.balance == 0


# --- roles -----------------------------------------------------------------------------

def test_finance_sees_no_issue_or_loss_buttons_and_gets_403(client, finance, holder_with_card):
    """R-ISSUE-1, R-LOSS-1 are card-centre work; finance adjusts and closes (R-ADJ-1, R-CLOSE-1)."""
    holder, card = holder_with_card
    client.force_login(finance)
    html = client.get(holder_url(holder)).content.decode()
    assert holder_action_url(holder, "issue_formal") not in html
    assert card_action_url(card, "report_loss") not in html
    assert holder_action_url(holder, "adjust") in html
    assert holder_action_url(holder, "close") in html
    for url in (holder_action_url(holder, "issue_formal"), card_action_url(card, "report_loss")):
        assert client.get(url).status_code == 403
        assert client.post(url, {"reason": "x", "fee_payment": "cash"}).status_code == 403
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE and holder.cards.count() == 1
    assert client.get(reverse("admin:accounts_issuebatch_import")).status_code == 403
    assert client.get(reverse("admin:accounts_cardholder_add")).status_code == 403


def test_staff_cannot_adjust_or_close(client, staff, holder_with_card):
    holder, _ = holder_with_card
    client.force_login(staff)
    html = client.get(holder_url(holder)).content.decode()
    assert holder_action_url(holder, "adjust") not in html
    assert client.post(holder_action_url(holder, "adjust"),
                       {"kind": "refund_holder", "amount": "1.00", "reason": "x"}).status_code == 403
    assert client.post(holder_action_url(holder, "close"), {"payout": "cash", "reason": "x"}).status_code == 403


def test_ledger_and_audit_are_read_only_even_for_superuser(client, superuser, staff, holder_with_card):
    """M§46: the audit log and the ledger are never edited by hand."""
    holder, card = holder_with_card
    client.force_login(superuser)
    account = holder.purse.account
    entry = AuditLog.objects.first()
    for name, obj in (("ledgeraccount", account), ("auditlog", entry), ("purse", holder.purse),
                      ("blocklistentry", BlockListEntry.objects.first())):
        if obj is None:
            continue
        change = reverse(f"admin:accounts_{name}_change", args=[obj.pk])
        assert client.get(change).status_code == 200  # view only
        assert client.post(change, {}).status_code == 403
        assert client.get(reverse(f"admin:accounts_{name}_add")).status_code == 403
        assert client.post(reverse(f"admin:accounts_{name}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:accounts_journal_changelist")).status_code == 200


def test_finance_adds_a_fee_in_yuan_but_cannot_change_it(client, finance):
    """R-FEE-2: fees are data with an effective date."""
    client.force_login(finance)
    r = client.post(reverse("admin:accounts_feeschedule_add"),
                    {"kind": "new_card", "amount_yuan": "35.00", "effective_from": "2030-01-01",
                     "reason": "school decision 2029-12"})
    assert r.status_code == 302
    fee = FeeSchedule.objects.get(effective_from="2030-01-01")
    assert fee.amount == 3500
    assert client.post(reverse("admin:accounts_feeschedule_change", args=[fee.pk]),
                       {"kind": "new_card", "amount_yuan": "1.00", "effective_from": "2030-01-01"}).status_code == 403


def test_card_admin_lists_filters_searches_and_offers_the_card_buttons(client, staff, holder_with_card):
    """R-LOSS-1, R-CARD-1: the card list filters on type and status; the card page has the same buttons."""
    holder, card = holder_with_card
    services.card_batch_issue(actor=staff, unit=UnitFactory(), card_type=CardType.CONSUMPTION, quantity=2)
    client.force_login(staff)
    url = reverse("admin:accounts_card_changelist")
    assert client.get(url, {"card_type__exact": CardType.FORMAL}).context["cl"].result_count == 1
    assert client.get(url, {"status__exact": "active"}).context["cl"].result_count == 3
    r = client.get(url, {"q": str(card.card_no)})
    assert list(r.context["cl"].result_list) == [card]
    assert holder_url(holder) in r.content.decode()  # link to the holder
    html = client.get(reverse("admin:accounts_card_change", args=[card.pk])).content.decode()
    assert card_action_url(card, "report_loss") in html and card_action_url(card, "freeze") in html
    assert card_action_url(card, "reverse_loss") not in html  # not lost


def test_consumption_card_cannot_be_reported_lost(client, staff):
    """R-LOSS-1: no loss button for an anonymous consumption card, and the service refuses it."""
    services.card_batch_issue(actor=staff, unit=UnitFactory(), card_type=CardType.CONSUMPTION, quantity=1)
    card = Card.objects.get()
    client.force_login(staff)
    assert card_action_url(card, "report_loss") not in client.get(
        reverse("admin:accounts_card_change", args=[card.pk])).content.decode()
    r = client.post(card_action_url(card, "report_loss"), {"reason": ""})
    assert r.status_code == 200 and any("不能挂失（R-LOSS-1）" in m for m in messages_of(r))
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE


def test_every_accounts_admin_page_renders(client, superuser, staff, finance, holder_with_card):
    holder, card = holder_with_card
    adjust(holder, "refund_holder", 100, by=finance, reason="bank diff")
    batch = services.card_batch_issue(actor=staff, unit=UnitFactory(), card_type=CardType.CONSUMPTION, quantity=1)
    services.card_report_loss(card=card, channel="kiosk")  # a block-list entry
    client.force_login(superuser)
    objects = {
        "cardholder": holder, "card": card, "issuebatch": batch, "unit": holder.unit,
        "feeschedule": FeeSchedule.objects.first(), "ledgeraccount": holder.purse.account, "purse": holder.purse,
        "journal": Journal.objects.first(), "auditlog": AuditLog.objects.first(),
        "blocklistentry": BlockListEntry.objects.first(),
    }
    for name, obj in objects.items():
        assert client.get(reverse(f"admin:accounts_{name}_changelist")).status_code == 200, name
        assert client.get(reverse(f"admin:accounts_{name}_change", args=[obj.pk])).status_code == 200, name
    for slug in ("issue_formal", "close", "adjust", "kiosk_password"):
        assert client.get(holder_action_url(holder, slug)).status_code == 200, slug
    for slug in ("report_loss", "reverse_loss", "freeze", "unfreeze", "replace", "extend", "close"):
        assert client.get(card_action_url(card, slug)).status_code == 200, slug
    assert client.get(reverse("admin:accounts_issuebatch_import")).status_code == 200
    assert client.get(reverse("admin:accounts_issuebatch_add")).status_code == 302
    assert client.get(reverse("admin:accounts_cardholder_add")).status_code == 200


def test_unit_agent_may_import_but_not_see_cardholders(client, make_user):
    """R-ISSUE-2: a unit's batch agent submits batch applications, nothing else."""
    agent = make_user("agent1", "unit_agent")
    client.force_login(agent)
    assert client.get(reverse("admin:accounts_issuebatch_import")).status_code == 200
    assert client.get(reverse("admin:accounts_cardholder_changelist")).status_code == 403
    assert client.get(reverse("admin:accounts_card_changelist")).status_code == 403


# --- batch import (R-ISSUE-2) ----------------------------------------------------------

def _upload(text: str, encoding: str, name: str = "batch.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def test_batch_with_a_bad_date_shows_row_errors_and_issues_nothing(client, staff):
    """R-ISSUE-2: one bad row and nothing is applied; the rows with errors are listed."""
    unit = UnitFactory()
    client.force_login(staff)
    text = "\ufeffnumber,name,category,end_date\nT100,张三,contract_staff,2028-01-01\nT101,李四,contract_staff,2028-02-30\n"
    r = client.post(reverse("admin:accounts_issuebatch_import"),
                    {"unit": unit.pk, "card_type": "2", "file": _upload(text, "utf-8"), "fee_payment": "bank"})
    assert r.status_code == 200
    assert [n for n, _ in r.context["row_errors"]] == [3]
    html = r.content.decode()
    assert 'id="batch-row-errors"' in html and "截止日期（end_date）：“2028-02-30”不是日期" in html
    assert re.search(r'<tr class="batch-row-error">\s*<td>3</td>', html)
    assert Card.objects.count() == 0 and IssueBatch.objects.count() == 0
    assert not Cardholder.objects.filter(number="T100").exists()


@pytest.mark.parametrize("encoding,bom", [("utf-8", "\ufeff"), ("gbk", "")])
def test_valid_csv_batch_issues_the_cards(client, staff, encoding, bom):
    """R-ISSUE-2, R-FEE-2: a unit's CSV from Excel (UTF-8 with BOM, or GBK) issues ordinary cards."""
    unit = UnitFactory()
    client.force_login(staff)
    text = bom + "学号,姓名,人员类别,截止日期\r\nT200,张三,外聘人员,2028-01-01\r\nT201,李四,临时工,2028-06-30\r\n"
    r = client.post(reverse("admin:accounts_issuebatch_import"),
                    {"unit": unit.pk, "card_type": "2", "file": _upload(text, encoding), "fee_payment": "bank"})
    assert r.status_code == 302, messages_of(r)
    batch = IssueBatch.objects.get()
    assert r["Location"] == reverse("admin:accounts_issuebatch_change", args=[batch.pk])
    assert batch.rows == 2 and batch.fee_total == 6000
    assert sorted(Card.objects.values_list("holder__name", flat=True)) == sorted(["张三", "李四"])
    assert set(Card.objects.values_list("card_type", flat=True)) == {CardType.ORDINARY}
    page = client.get(r["Location"])
    assert any("2" in m for m in messages_of(page))
    html = page.content.decode()
    assert f'<a href="{r["Location"]}">' in html  # the success message links to the batch
    assert "T200" in html


def test_xlsx_batch_issues_the_cards(client, staff):
    """R-ISSUE-2: an XLSX application, dates as Excel dates."""
    import datetime as dt
    import io

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["学号", "姓名", "人员类别", "截止日期"])
    ws.append(["T300", "王五", "外聘人员", dt.date(2028, 1, 1)])
    buf = io.BytesIO()
    wb.save(buf)
    upload = SimpleUploadedFile("batch.xlsx", buf.getvalue(),
                                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    client.force_login(staff)
    r = client.post(reverse("admin:accounts_issuebatch_import"),
                    {"unit": UnitFactory().pk, "card_type": "2", "file": upload, "fee_payment": "bank"})
    assert r.status_code == 302, messages_of(r)
    assert Card.objects.get().holder.number == "T300"


def test_consumption_batch_by_quantity(client, staff):
    """R-ISSUE-2, R-CARD-4: anonymous consumption cards by quantity."""
    unit = UnitFactory()
    client.force_login(staff)
    r = client.post(reverse("admin:accounts_issuebatch_import"),
                    {"unit": unit.pk, "card_type": "3", "quantity": "3", "fee_payment": "cash"})
    assert r.status_code == 302
    assert Card.objects.filter(card_type=CardType.CONSUMPTION, holder=None).count() == 3


def test_ordinary_batch_needs_a_file(client, staff):
    unit = UnitFactory()
    client.force_login(staff)
    r = client.post(reverse("admin:accounts_issuebatch_import"),
                    {"unit": unit.pk, "card_type": "2", "quantity": "3", "fee_payment": "bank"})
    assert r.status_code == 200 and "file" in r.context["form"].errors
    assert Card.objects.count() == 0


# --- language ------------------------------------------------------------------------

def test_admin_is_chinese_by_default(client, staff, holder_with_card):
    holder, _ = holder_with_card
    client.force_login(staff)
    html = client.get(holder_url(holder)).content.decode()
    assert 'lang="zh-hans"' in html
    assert "持卡人" in html and "过渡余额" in html and "挂失" in html


@pytest.mark.parametrize("how", ["cookie", "header"])
def test_admin_renders_in_english_when_asked(client, staff, holder_with_card, how):
    holder, card = holder_with_card
    client.force_login(staff)
    kwargs = {}
    if how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    else:
        kwargs["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = client.get(holder_url(holder), **kwargs).content.decode()
    assert 'lang="en"' in html
    assert "Account balance" in html and "Report loss" in html and "CampusCard back office" in html


def test_language_switch_sets_the_cookie(client, staff):
    client.force_login(staff)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="language-switch"' in html
    r = client.post(reverse("set_language"), {"language": "en", "next": reverse("admin:index")})
    assert r.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "Site administration" not in client.get(reverse("admin:index")).content.decode()  # our index title
    assert "Card centre" in client.get(reverse("admin:index")).content.decode()
