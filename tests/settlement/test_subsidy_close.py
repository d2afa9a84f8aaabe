"""Subsidies through the daily close (R-DAY-1): issued, claimed at a top-up point and written to the
card, the rest reversed at expiry; every day closes balanced and the trial balance shows the
subsidy funding and the subsidies not yet claimed under their own names."""

import datetime as dt

import pytest

from accounts import subsidies
from accounts.models import LedgerAccount
from merchants.models import MerchantKind
from settlement import services
from settlement.day_detail import trial_balance
from settlement.models import DayClose, DayTrialBalance
from tests.factories import HolderFactory

from .conftest import after_midnight

pytestmark = pytest.mark.django_db


def test_r_day_1_subsidy_issue_claim_and_expiry_close_balanced(till, admin_user, make_user, today, travel):
    from accounts import services as acc

    a = HolderFactory(number="SB01")
    HolderFactory(number="SB02")
    card = acc.card_issue_formal(actor=admin_user, holder=a)
    maker, checker = make_user("sb-maker", "finance"), make_user("sb-checker", "finance")
    batch = subsidies.subsidy_batch_file(
        actor=maker, rows=[{"_row": 2, "number": "SB01", "amount": "30"}, {"_row": 3, "number": "SB02", "amount": "20"}],
        reason="助学补助", expires_on=today)
    subsidies.subsidy_batch_decide(actor=checker, batch=batch, approve=True)
    card.refresh_from_db()
    assert subsidies.subsidies_claim(card=card, merchant_kind=MerchantKind.TOPUP) == 3000
    topup = till(MerchantKind.TOPUP)
    topup.card(card, balance=0)
    topup.send([topup.deposit(card, 3000, 0)])  # the pending credit written to the card

    travel(after_midnight(today))
    dc = services.day_close(day=today)
    assert dc.status == DayClose.Status.BALANCED, list(dc.exceptions.values_list("detail", flat=True))
    assert dc.totals["trial_balance"]["balanced"]
    rows = {r.kind: r for r in DayTrialBalance.objects.filter(day=today)}
    assert rows["sub_fund"].closing == 5000 and rows["subsidy"].closing == -2000  # debit-positive
    labels = {r["kind"]: r["label"] for r in trial_balance(dc)["rows"]}
    assert labels["subsidy"] == "Subsidies issued, not yet claimed"

    # The next day SB02's 20.00 is past its last day: the sweep reverses it, and that day closes too.
    travel(after_midnight(today, minutes=30))
    assert subsidies.subsidies_expire(batch_id=batch.pk) == {"lines": 1, "amount": 2000}
    next_day = today + dt.timedelta(days=1)
    travel(after_midnight(next_day))
    dc2 = services.day_close(day=next_day)
    assert dc2.status == DayClose.Status.BALANCED, list(dc2.exceptions.values_list("detail", flat=True))
    rows = {r.kind: r for r in DayTrialBalance.objects.filter(day=next_day)}
    assert rows["sub_fund"].closing == 3000 and rows["subsidy"].closing == 0
    assert LedgerAccount.objects.get(kind="subsidy").balance == 0
