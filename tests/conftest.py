"""Shared fixtures. Tests run against real PostgreSQL (embedded when DATABASE_URL is unset)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts.ledger import ledger_check
from accounts.setup import role_group


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, and before it drops the test database: end the sessions that threads of
    earlier tests left open (a gateway's database threads, a LISTEN thread). Otherwise the drop
    can fail with "being accessed by other users", a warning at the end of `make test`, and the
    database is left behind."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture(autouse=True)
def ledger_stays_balanced(request):
    """After every test that touched the database: every journal balances and every balance
    equals the sum of its postings."""
    yield
    if {"db", "transactional_db", "django_db_setup"} & set(request.fixturenames) or request.node.get_closest_marker(
        "django_db"
    ):
        from django.db import connection

        if connection.connection is not None and not connection.needs_rollback:
            assert ledger_check() == []


def _user(username: str, role: str | None, **extra):
    User = get_user_model()
    user = User.objects.create_user(username=username, password="pw-" + username, is_staff=True, **extra)
    if role:
        user.groups.add(role_group(role))
    return User.objects.get(pk=user.pk)  # fresh: no cached permissions


@pytest.fixture
def staff(db):
    """A card-centre staff member."""
    return _user("staff1", "card_centre")


@pytest.fixture
def finance(db):
    return _user("finance1", "finance")


@pytest.fixture
def superuser(db):
    return _user("root1", "super_admin", is_superuser=True)


@pytest.fixture
def make_user(db):
    return _user
