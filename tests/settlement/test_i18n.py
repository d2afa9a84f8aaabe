"""Settlement's service refusals follow the active language (zh-hans by default, English on
request): the merchant portal once showed "申请未成功：Applications for this period open on …",
half Chinese, half English."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts.errors import BusinessError, NotAllowed
from accounts.timeutil import BUSINESS_TZ
from merchants.models import MerchantKind
from merchants.services import merchant_create, merchant_user_add
from settlement import services
from settlement.models import Statement

pytestmark = pytest.mark.django_db

JAN = (dt.date(2026, 1, 1), dt.date(2026, 1, 31))


def _message(call, exc_type=BusinessError) -> str:
    with pytest.raises(exc_type) as exc:
        call()
    return " ".join(exc.value.messages)


@pytest.fixture
def january(admin_user):
    """Merchant M-I18N with an open January statement and its settlement contact (mer_i18n)."""
    merchant = merchant_create(actor=admin_user, code="M-I18N", name="商户译", kind=MerchantKind.RETAIL)
    user = get_user_model().objects.create_user(username="mer_i18n", password="pw-mer_i18n")
    merchant_user_add(actor=admin_user, merchant=merchant, user=user, role="contact")
    st = Statement.objects.create(merchant=merchant, period_start=JAN[0], period_end=JAN[1], purchases=1, consumption=100,
                                  fee_base=100, fee=1, net=99, computed_at=timezone.now())
    return st, get_user_model().objects.get(pk=user.pk)


def test_r_set_3_early_application_refusal_in_zh_hans_and_en(january, admin_user):
    """R-SET-3 (U§11): the same refusal, whole in each language, the date filled in."""
    st, _user = january
    early = lambda: services.statement_apply(actor=admin_user, statement=st, today=dt.date(2026, 2, 10))  # noqa: E731
    with translation.override("zh-hans"):
        assert _message(early) == "本结算期自 2026-02-11 起方可申请结算（U§11）。"
    with translation.override("en"):
        assert _message(early) == "Applications for this period open on 2026-02-11 (U§11)."


def test_r_set_3_status_label_inside_the_message_is_translated_with_it(january, admin_user):
    st, _user = january
    check = lambda: services.statement_check(actor=admin_user, statement=st)  # noqa: E731
    with translation.override("zh-hans"):
        assert _message(check) == "该结算单状态为“已计算”，须先申请结算。"
    with translation.override("en"):
        assert _message(check) == "This statement is Computed; it must be applied for first."


def test_r_mer_4_not_allowed_in_zh_hans_and_en(january, admin_user):
    """R-MER-4: a merchant user acting on another merchant's statement is refused in its language."""
    st, _user = january
    other = merchant_create(actor=admin_user, code="M-OTHER", name="商户他", kind=MerchantKind.RETAIL)
    stranger = get_user_model().objects.create_user(username="mer_other", password="pw-mer_other")
    merchant_user_add(actor=admin_user, merchant=other, user=stranger, role="contact")
    stranger = get_user_model().objects.get(pk=stranger.pk)
    apply = lambda: services.statement_apply(actor=stranger, statement=st, today=dt.date(2026, 2, 15))  # noqa: E731
    with translation.override("zh-hans"):
        assert _message(apply, NotAllowed) == "商户用户只能为本商户办理业务（R-MER-4）。"
    with translation.override("en"):
        assert _message(apply, NotAllowed) == "A merchant user may act only for its own merchant (R-MER-4)."


@pytest.mark.parametrize("lang, expected", [
    ("zh-hans", "申请未成功：本结算期自 2026-02-11 起方可申请结算（U§11）。"),
    ("en", "The application was refused: Applications for this period open on 2026-02-11 (U§11)."),
], ids=["zh-hans", "en"])
def test_r_set_3_portal_shows_the_refusal_in_one_language(client, january, lang, expected):
    """The portal's prefix and the service's reason read in the same language."""
    st, _user = january
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    with time_machine.travel(dt.datetime(2026, 2, 10, 10, tzinfo=BUSINESS_TZ), tick=False):
        assert client.post("/merchant/login/", {"username": "mer_i18n", "password": "pw-mer_i18n"}).status_code == 302
        page = client.post(f"/merchant/statements/{st.pk}/apply/", follow=True).content.decode()
    st.refresh_from_db()
    assert st.status == Statement.Status.OPEN
    assert expected in page


def _gettext_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_"
            and node.args and isinstance(node.args[0], ast.Constant)]


def test_every_settlement_service_message_has_a_chinese_translation():
    """A message added without a catalogue entry would show English in the zh-hans portal."""
    messages = _gettext_literals(Path(settings.BASE_DIR) / "settlement" / "services.py")
    assert len(messages) >= 25
    with translation.override("zh-hans"):
        untranslated = [m for m in messages if gettext(m) == m]
    assert untranslated == []
