"""Service messages follow the active language: Simplified Chinese by default, English on request."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.utils import translation

from accounts import services
from accounts.errors import BusinessError, NotAllowed
from accounts.imports import BatchRejected
from accounts.models import CardType
from tests.accounts.helpers import consumption_card, fast_password_hashing, formal_card  # noqa: F401
from tests.factories import UnitFactory

pytestmark = pytest.mark.django_db


def _message(call) -> str:
    with pytest.raises(BusinessError) as exc:
        call()
    return " ".join(exc.value.messages)


def test_the_default_language_is_simplified_chinese():
    assert settings.LANGUAGE_CODE == "zh-hans"


def test_r_loss_1_refusal_is_chinese_under_zh_hans_and_english_under_en(staff):
    """R-LOSS-1: a consumption card cannot be reported lost; the refusal reads in the user's language."""
    card = consumption_card(staff)
    refuse = lambda: services.card_report_loss(card=card, actor=staff, reason="x")  # noqa: E731
    with translation.override("zh-hans"):
        assert _message(refuse) == "消费卡不记名，不能挂失（R-LOSS-1）。"
    with translation.override("en"):
        assert _message(refuse) == "A consumption card is anonymous and cannot be reported lost (R-LOSS-1)."


def test_placeholders_and_lazy_labels_are_filled_in_each_language(staff):
    """The card number and the status labels inside a message are translated with it."""
    card = formal_card(staff)
    services.card_replace(card=card, actor=staff, reason="damaged")
    refuse = lambda: services.card_freeze(card=card, actor=staff, reason="x")  # noqa: E731
    with translation.override("zh-hans"):
        assert _message(refuse) == f"卡 {card.card_no} 的状态为“已补办”，不能变为“已冻结”。"
    with translation.override("en"):
        assert _message(refuse) == f"Card {card.card_no} is Replaced; it cannot become Frozen."


def test_not_allowed_is_translated_too(finance):
    refuse = lambda: services.card_batch_issue(actor=finance, unit=UnitFactory(), card_type=CardType.CONSUMPTION,  # noqa: E731
                                               quantity=1)
    with translation.override("zh-hans"), pytest.raises(NotAllowed, match="您无权执行此操作（accounts.import_batch）"):
        refuse()
    with translation.override("en"), pytest.raises(NotAllowed, match=r"not allowed to do this \(accounts.import_batch\)"):
        refuse()


def test_r_issue_2_import_row_errors_name_the_column_in_each_language(staff):
    rows = [{"_row": 2, "number": "Z1", "name": "张三", "category": "contract_staff", "end_date": "2027-02-30"}]
    issue = lambda: services.card_batch_issue(actor=staff, unit=UnitFactory(), card_type=CardType.ORDINARY, rows=rows)  # noqa: E731
    with translation.override("zh-hans"), pytest.raises(BatchRejected) as zh:
        issue()
    assert zh.value.row_errors == [(2, ["截止日期（end_date）：“2027-02-30”不是日期（YYYY-MM-DD）"])]
    assert "1 行有错误，未作任何处理：第 2 行：" in zh.value.messages[0]
    with translation.override("en"), pytest.raises(BatchRejected) as en:
        issue()
    assert en.value.row_errors == [(2, ['end_date: "2027-02-30" is not a date (YYYY-MM-DD)'])]
