import pytest

from accounts import services
from accounts.models import CardStatus, CardType, LedgerAccount
from tests.accounts.helpers import adjust
from tests.factories import HolderFactory, UnitFactory


@pytest.mark.django_db
def test_formal_issue_loss_replace_close(staff, finance):
    holder = HolderFactory()
    card = services.card_issue_formal(actor=staff, holder=holder)
    assert card.status == CardStatus.ACTIVE
    services.card_report_loss(card=card, channel="kiosk")
    new = services.card_replace(card=card, actor=staff, reason="lost", fee_payment="cash")
    assert new.card_type == CardType.FORMAL and new.card_no != card.card_no
    assert LedgerAccount.objects.get(kind="card_fee").balance == 3000
    adjust(holder, "refund_holder", 500, by=finance, reason="bank diff")
    services.account_close(actor=finance, holder=holder, reason="graduated")
    holder.refresh_from_db()
    assert holder.status == "closed"


@pytest.mark.django_db
def test_batch(staff):
    unit = UnitFactory()
    rows = [{"_row": 2, "number": "T1", "name": "张三", "category": "contract_staff", "end_date": "2028-01-01"}]
    batch = services.card_batch_issue(actor=staff, unit=unit, card_type=CardType.ORDINARY, rows=rows)
    assert batch.rows == 1
    b2 = services.card_batch_issue(actor=staff, unit=unit, card_type=CardType.CONSUMPTION, quantity=3)
    assert b2.cards.count() == 3
    assert LedgerAccount.objects.get(kind="card_fee").balance == 12000
