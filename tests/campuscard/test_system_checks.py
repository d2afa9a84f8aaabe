"""Django's system checks pass and the models match the migrations: a broken admin class or a
forgotten migration fails here, not in `make run` or on the gateway's start."""

import pytest
from django.core.management import call_command


def test_system_checks_pass():
    call_command("check", fail_level="WARNING")


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", check=True, dry_run=True, verbosity=0)
