"""Settlement permissions follow the roles: the card centre checks but never approves or pays,
finance approves and pays but runs no card services (segregation of duties, R-SET-*)."""

import pytest
from django.contrib.auth.models import Group

from accounts.setup import role_group
from merchants.setup import MERCHANT_GROUP

pytestmark = pytest.mark.django_db


def perms(group):
    return set(group.permissions.filter(content_type__app_label="settlement").values_list("codename", flat=True))


def test_card_centre_checks_but_cannot_approve_or_pay():
    centre = perms(role_group("card_centre"))
    assert {"run_dayclose", "check_statement", "resolve_closeexception"} <= centre
    assert not {"approve_statement", "pay_statement"} & centre


def test_finance_approves_and_pays_but_does_not_check():
    finance = perms(role_group("finance"))
    assert {"approve_statement", "pay_statement", "view_statement"} <= finance
    assert "check_statement" not in finance and "run_dayclose" not in finance


def test_merchant_users_apply_only():
    assert perms(Group.objects.get(name=MERCHANT_GROUP)) == {"apply_statement", "add_correction"}
