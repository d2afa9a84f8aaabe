"""Merchant refunds of duplicate charges (R-DUP-1), 退一赔一 (R-DUP-2), correction forms (U§9,
R-MER-3), and what they do to the next settlement."""

import pytest

from accounts.errors import BusinessError
from accounts.models import CardType, LedgerAccount, Purse
from merchants.models import MerchantKind
from settlement import services
from settlement.models import DayMerchantTotal, Refund, Statement
from terminals import selectors as terminal_selectors
from terminals.models import Record

from .conftest import after_midnight

pytestmark = pytest.mark.django_db


def _twice(t, card, base, surcharge=0):
    """The same charge twice within the terminal's duplicate guard (R-DUP-1)."""
    t.send([t.purchase(card, base, surcharge), t.purchase(card, base, surcharge)])
    recs = list(Record.objects.filter(terminal=t.terminal).order_by("term_seq"))
    assert "suspected_duplicate" in recs[-1].problems
    return recs[-2], recs[-1]


def _purse(card):
    return Purse.objects.select_related("account").get(pk=card.purse_id)


def test_r_dup_1_suspected_duplicates_are_listed_and_refunded_by_the_merchant(till, funded_card, admin_user, merchants):
    t = till(MerchantKind.DINING)
    anon = t.card(funded_card(10000, card_type=CardType.CONSUMPTION))
    original, dup = _twice(t, anon, 400, 60)
    listed = terminal_selectors.records_suspected_duplicate(merchant_id=merchants[MerchantKind.DINING].pk)
    assert list(listed) == [dup]
    payable = merchants[MerchantKind.DINING].payable_account
    payable.refresh_from_db()
    sur_before = LedgerAccount.objects.get(kind="surcharge").balance
    before = _purse(anon)
    with pytest.raises(BusinessError, match="not a suspected duplicate"):
        services.duplicate_refund(actor=admin_user, record=original, reason="?")
    [refund] = services.duplicate_refund(actor=admin_user, record=dup, reason="POS 清零 pressed twice")
    after = _purse(anon)
    assert after.account.balance - before.account.balance == 460 and after.pending - before.pending == 460
    assert (refund.from_merchant, refund.from_surcharge) == (400, 60)
    payable_after = LedgerAccount.objects.get(pk=payable.pk).balance
    assert payable.balance - payable_after == 400
    assert sur_before - LedgerAccount.objects.get(kind="surcharge").balance == 60
    with pytest.raises(BusinessError, match="already"):
        services.duplicate_refund(actor=admin_user, record=dup, reason="again")


def test_r_dup_2_repeat_offender_refunds_both_charges_at_its_cost(till, funded_card, admin_user, merchants):
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(10000))
    original, dup = _twice(t, card, 700)
    services.merchant_offender_set(actor=admin_user, merchant=merchants[MerchantKind.RETAIL], offender=True,
                                   reason="third duplicate this term")
    before = _purse(card).account.balance
    refunds = services.duplicate_refund(actor=admin_user, record=dup, reason="duplicate")
    assert {(r.kind, r.record_id, r.from_merchant) for r in refunds} == {
        (Refund.Kind.DUPLICATE, dup.pk, 700), (Refund.Kind.COMPENSATION, original.pk, 700)}
    assert _purse(card).account.balance - before == 1400


def test_r_mer_3_correction_form_needs_both_confirmations_and_credits_pending(till, funded_card, admin_user,
                                                                              finance2, merchants):
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(10000))
    t.send([t.purchase(card, 1500)])
    rec = Record.objects.get(terminal=t.terminal)
    with pytest.raises(BusinessError, match="Both"):
        services.correction_request(actor=admin_user, record=rec, amount=500, reason="typed 15 for 10",
                                    merchant_confirmed=True, holder_confirmed=False)
    with pytest.raises(BusinessError, match="At most"):
        services.correction_request(actor=admin_user, record=rec, amount=1501, reason="x", merchant_confirmed=True,
                                    holder_confirmed=True)
    corr = services.correction_request(actor=admin_user, record=rec, amount=500, reason="typed 15 for 10",
                                       merchant_confirmed=True, holder_confirmed=True)
    before = _purse(card)
    corr = services.correction_decide(actor=finance2, correction=corr, approve=True)
    after = _purse(card)
    assert corr.status == "done" and corr.journal.source == f"correction:{corr.pk}"
    assert (after.account.balance - before.account.balance, after.pending - before.pending) == (500, 500)
    with pytest.raises(BusinessError):
        services.correction_decide(actor=finance2, correction=corr, approve=True)
    rejected = services.correction_request(actor=admin_user, record=rec, amount=100, reason="disputed",
                                           merchant_confirmed=True, holder_confirmed=True)
    with pytest.raises(BusinessError, match="reason"):
        services.correction_decide(actor=finance2, correction=rejected, approve=False)
    assert services.correction_decide(actor=finance2, correction=rejected, approve=False, note="no proof").status == \
        "rejected"


def test_r_dup_1_refunds_and_corrections_reduce_the_settlement_and_its_fee(till, funded_card, admin_user, merchants,
                                                                         today, travel):
    t = till(MerchantKind.RETAIL)
    card = t.card(funded_card(100000))
    _, dup = _twice(t, card, 10000)
    services.duplicate_refund(actor=admin_user, record=dup, reason="duplicate")
    t.send([t.purchase(card, 3000)])
    rec = Record.objects.filter(terminal=t.terminal).order_by("-term_seq").first()
    corr = services.correction_request(actor=admin_user, record=rec, amount=1000, reason="over-charge",
                                       merchant_confirmed=True, holder_confirmed=True)
    services.correction_decide(actor=admin_user, correction=corr, approve=True)
    travel(after_midnight(today))
    services.day_close(day=today)
    row = DayMerchantTotal.objects.get(day=today, merchant=merchants[MerchantKind.RETAIL])
    assert (row.settled, row.refunds, row.corrections, row.duplicates) == (23000, 10000, 1000, 1)
    services.settlement_compute(period_start=today, period_end=today)
    st = Statement.objects.get(merchant=merchants[MerchantKind.RETAIL])
    assert (st.consumption, st.refunds, st.corrections, st.fee_base, st.fee, st.net) == (23000, 10000, 1000, 12000, 60,
                                                                                        11940)
    payable = LedgerAccount.objects.get(pk=merchants[MerchantKind.RETAIL].payable_account_id)
    assert payable.balance == st.consumption - st.refunds - st.corrections == st.net + st.fee
