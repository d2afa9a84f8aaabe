"""The ledger's and the day book's refusals follow the active language like every service
message (zh-hans by default, English on request)."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from accounts import daybook, services
from accounts.errors import BusinessError, InsufficientFunds
from accounts.ledger import journal_post
from accounts.timeutil import business_day
from tests.factories import HolderFactory


def _message(call, exc_type=BusinessError) -> str:
    with pytest.raises(exc_type) as exc:
        call()
    return " ".join(exc.value.messages)


@pytest.mark.django_db
def test_insufficient_funds_in_zh_hans_and_en():
    """A purse never goes negative; the refusal names the account and what it holds."""
    purse = HolderFactory().purse.account
    cash = services.ledger_account_create(kind="cash", code="T-I18N-CASH", name="test cash")
    journal_post(kind="deposit", lines=[(cash, 300), (purse, -300)])
    spend = lambda: journal_post(kind="transfer", lines=[(purse, 500), (cash, -500)])  # noqa: E731
    with translation.override("zh-hans"):
        assert _message(spend, InsufficientFunds) == f"账户 {purse.code} 余额不足：可用 300 分。"
    with translation.override("en"):
        assert _message(spend, InsufficientFunds) == f"Insufficient balance in {purse.code}: 300 fen available."


@pytest.mark.django_db
def test_journal_refusals_are_translated():
    cash = services.ledger_account_create(kind="cash", code="T-I18N-C1", name="test cash 1")
    other = services.ledger_account_create(kind="cash", code="T-I18N-C2", name="test cash 2")
    unbalanced = lambda: journal_post(kind="transfer", lines=[(cash, 100), (other, -99)])  # noqa: E731
    unknown = lambda: journal_post(kind="gift", lines=[(cash, 1), (other, -1)])  # noqa: E731
    with translation.override("zh-hans"):
        assert _message(unbalanced) == "凭证的借方与贷方金额必须相等。"
        assert _message(unknown) == "未知的凭证类型“gift”。"
    with translation.override("en"):
        assert _message(unbalanced) == "Debits and credits of a journal must be equal."
        assert _message(unknown) == 'Unknown journal kind "gift".'


def test_r_day_1_a_day_that_has_not_ended_in_zh_hans_and_en():
    """R-DAY-1: today cannot be closed yet (refused before anything touches the database)."""
    today = business_day()
    close = lambda: daybook.day_mark_closed(day=today)  # noqa: E731
    with translation.override("zh-hans"):
        assert _message(close) == f"营业日 {today} 尚未结束，暂不能日结。"
    with translation.override("en"):
        assert _message(close) == f"Business day {today} has not ended; it cannot be closed yet."


@pytest.mark.django_db
def test_r_day_1_a_closed_day_refuses_journals_in_zh_hans_and_en():
    yesterday = business_day() - dt.timedelta(days=1)
    daybook.day_mark_closed(day=yesterday)
    cash = services.ledger_account_create(kind="cash", code="T-I18N-C3", name="test cash 3")
    other = services.ledger_account_create(kind="cash", code="T-I18N-C4", name="test cash 4")
    post = lambda: journal_post(kind="transfer", lines=[(cash, 1), (other, -1)], business_day=yesterday)  # noqa: E731
    with translation.override("zh-hans"):
        assert _message(post) == f"营业日 {yesterday} 已日结，不能再记入任何凭证（R-DAY-1）。"
    with translation.override("en"):
        assert _message(post) == f"Business day {yesterday} is closed; nothing more can be posted to it (R-DAY-1)."


@pytest.mark.parametrize("module", ["ledger.py", "daybook.py"])
def test_every_ledger_and_daybook_message_has_a_chinese_translation(module):
    tree = ast.parse((Path(settings.BASE_DIR) / "accounts" / module).read_text())
    messages = [node.args[0].value for node in ast.walk(tree)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_"
                and node.args and isinstance(node.args[0], ast.Constant)]
    assert messages
    with translation.override("zh-hans"):
        assert [m for m in messages if gettext(m) == m] == []
