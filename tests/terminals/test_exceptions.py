"""Staff resolve exceptions (post, adjust, reject, each with a reason and an audit row), and
purchases uploaded before their top-up are posted by the retry once the money is there."""

import pytest

from accounts.errors import BusinessError
from accounts.models import AuditLog, LedgerAccount
from merchants.models import MerchantKind
from terminals import services
from terminals.ingest.posting import records_retry_pending
from terminals.models import CardFlag, Record

from .helpers import Till

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(make_terminal, rates):
    return Till(make_terminal(MerchantKind.RETAIL)[0])


@pytest.fixture
def card(funded_card, shop):
    return shop.card(funded_card(1000))


def bal(account_id):
    return LedgerAccount.objects.get(pk=account_id).balance


def test_purchase_before_its_top_up_is_posted_by_the_retry(shop, card, make_terminal, admin_user, merchants):
    topup = Till(make_terminal(MerchantKind.TOPUP)[0])
    topup.card(card)
    dep = topup.deposit(card, 5000, operator_no=admin_user.pk)
    shop.cards[card.card_no] = list(topup.cards[card.card_no])
    shop.send([shop.purchase(card, 4000)])  # the shop uploads first
    assert Record.objects.get(kind=1).status == "exception"
    assert records_retry_pending()["posted"] == 0  # still no money: stays an exception
    topup.send([dep])
    assert records_retry_pending()["posted"] == 1
    rec = Record.objects.get(kind=1)
    assert rec.status == "posted"
    assert (rec.merchant_amount, rec.surcharge_amount, rec.held_amount) == (4000, 0, 0)  # the split, stored by the retry
    assert bal(card.purse.account_id) == 1000 + 5000 - 4000
    assert bal(merchants[MerchantKind.RETAIL].payable_account_id) == 4000
    assert not CardFlag.objects.filter(resolved_at__isnull=True).exists()


def test_staff_post_a_wrong_surcharge_exception_after_checking(shop, card, admin_user):
    bad = shop.purchase(card, 100)
    bad.balance_after -= 1  # arithmetic exception at intake
    shop.send([bad])
    rec = Record.objects.get()
    with pytest.raises(BusinessError):
        services.record_exception_post(actor=admin_user, record_id=rec.pk, reason="")
    services.record_exception_post(actor=admin_user, record_id=rec.pk, reason="checked with the merchant")
    rec.refresh_from_db()
    assert rec.status == "posted" and rec.journal_id is not None
    assert bal(card.purse.account_id) == 900
    assert AuditLog.objects.filter(action="record_post", data__record=rec.pk).exists()
    with pytest.raises(BusinessError):  # posted once
        services.record_exception_post(actor=admin_user, record_id=rec.pk, reason="again")


def test_staff_adjust_the_amount_then_post(shop, card, admin_user):
    bad = shop.purchase(card, 300)
    bad.balance_after = bad.balance_before - 200  # the card was charged 2 yuan, the record says 3
    shop.send([bad])
    rec = Record.objects.get()
    services.record_exception_post(actor=admin_user, record_id=rec.pk, reason="merchant agrees 2.00",
                                   base_amount=200)
    assert bal(card.purse.account_id) == 800
    assert Record.objects.get().merchant_amount == 200 == bal(shop.terminal.assignments.get().merchant.payable_account_id)
    audit = AuditLog.objects.get(action="record_adjust")
    assert audit.data["before"]["base_amount"] == 300 and audit.data["after"]["base_amount"] == 200
    assert bytes(Record.objects.get().raw) == bad.encode()  # the bytes received are kept as they were


def test_staff_reject_moves_no_money(shop, card, admin_user):
    bad = shop.purchase(card, 100)
    bad.balance_after += 7
    shop.send([bad])
    rec = Record.objects.get()
    services.record_reject(actor=admin_user, record_id=rec.pk, reason="test swipe")
    assert Record.objects.get().status == "rejected" and bal(card.purse.account_id) == 1000
    assert AuditLog.objects.filter(action="record_reject").exists()


def test_unknown_card_cannot_be_posted(shop, card, admin_user):
    rec = shop.purchase(card, 100)
    rec.card_no = 5
    shop.send([rec])
    with pytest.raises(BusinessError):
        services.record_exception_post(actor=admin_user, record_id=Record.objects.get().pk, reason="try")


def test_resolving_needs_the_permission(shop, card, make_user):
    bad = shop.purchase(card, 100)
    bad.balance_after += 1
    shop.send([bad])
    from accounts.errors import NotAllowed

    with pytest.raises(NotAllowed):
        services.record_reject(actor=make_user("fin-x", "finance"), record_id=Record.objects.get().pk, reason="x")


def test_flag_resolution_is_audited(shop, card, admin_user):
    shop.card(card, counter=3)
    shop.send([shop.purchase(card, 100)])
    flag = CardFlag.objects.get()
    services.cardflag_resolve(actor=admin_user, flag_id=flag.pk, resolution="card re-read at the desk")
    flag.refresh_from_db()
    assert flag.resolved_by == admin_user and AuditLog.objects.filter(action="cardflag_resolve").exists()


def test_admin_action_asks_for_a_reason_then_rejects(client, shop, card, admin_user):
    bad = shop.purchase(card, 100)
    bad.balance_after += 1
    shop.send([bad])
    rec = Record.objects.get()
    client.force_login(admin_user)
    url = "/admin/terminals/record/"
    page = client.post(url, {"action": "reject_records", "_selected_action": [rec.pk]})
    assert page.status_code == 200 and b"reason" in page.content
    client.post(url, {"action": "reject_records", "_selected_action": [rec.pk], "confirm": "1", "reason": "test"})
    assert Record.objects.get().status == "rejected"
