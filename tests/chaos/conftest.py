"""Fixtures for the chaos tests: the settlement tests' till and clock, the terminals' gateway."""

from tests.accounts.helpers import fast_password_hashing  # noqa: F401 (autouse)
from tests.settlement.conftest import after_midnight, till, today, travel  # noqa: F401
from tests.terminals.conftest import admin_user, funded_card, gateway, make_terminal, merchants, rates  # noqa: F401
