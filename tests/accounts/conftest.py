"""The accounts tests call services outside any request. Their messages follow the active language,
and a request through the test client leaves its language active (LocaleMiddleware never resets it),
so each test starts in English; the translations themselves are tested in test_i18n.py. A request
still picks its own language (zh-hans by default) as in production."""

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def english_messages():
    with translation.override("en"):
        yield
