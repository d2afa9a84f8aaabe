"""The controls of issue 10 are tried through the real views, admin and API as the real roles;
these fixtures are the terminals' (merchants, terminals, funded cards) and the accounts' (English
service messages, fast password hashing)."""

import pytest
from django.utils import translation

from tests.accounts.helpers import fast_password_hashing  # noqa: F401 (autouse)
from tests.terminals.conftest import admin_user, funded_card, make_terminal, merchants, rates  # noqa: F401


@pytest.fixture(autouse=True)
def english_messages():
    with translation.override("en"):
        yield
