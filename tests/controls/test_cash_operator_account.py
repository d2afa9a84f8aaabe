"""Every cash operator gets a cash account when the role is granted (issue 10). A new cashier's
cash top-ups were stored as `unknown_operator` exceptions and never posted: the account was only
opened when that user first took a card fee in cash. Now the grant opens it, however it is made
(the admin's user form, a group's members, a service), and staff post the held top-ups."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.models import AuditLog, LedgerAccount
from accounts.setup import ROLE_NAMES, role_group
from merchants.models import MerchantKind
from terminals.models import Record
from tests.terminals.helpers import Till

pytestmark = pytest.mark.django_db
User = get_user_model()


def cash_account(user):
    return LedgerAccount.objects.filter(kind="cash", operator=user).first()


def test_granting_the_role_in_the_admin_user_form_opens_the_cash_account(client, superuser):
    client.force_login(superuser)
    client.post("/admin/auth/user/add/", {"username": "cashier9", "password1": "Kq8-long-pass-2026",
                                          "password2": "Kq8-long-pass-2026", "usable_password": "true"})
    user = User.objects.get(username="cashier9")
    assert cash_account(user) is None
    resp = client.post(f"/admin/auth/user/{user.pk}/change/", {
        "username": "cashier9", "is_active": "on", "is_staff": "on", "groups": [role_group("cash_operator").pk],
        "date_joined_0": "2026-01-05", "date_joined_1": "08:00:00"})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    account = cash_account(user)
    assert account is not None and account.balance == 0
    assert AuditLog.objects.filter(action="cash_account_open", data__operator=user.pk).exists()


def test_adding_members_to_the_group_or_the_group_to_a_user_opens_it(make_user):
    by_group, by_user = make_user("cash_g", None), make_user("cash_u", None)
    Group.objects.get(name=ROLE_NAMES["cash_operator"]).user_set.add(by_group)
    by_user.groups.add(role_group("cash_operator"))
    assert cash_account(by_group) and cash_account(by_user)
    other = make_user("clerk", "card_centre")
    assert cash_account(other) is None  # other roles take no cash at the windows


def test_a_new_cashiers_top_up_posts_and_one_held_before_the_grant_is_reposted_by_staff(
        client, make_user, staff, make_terminal, funded_card, rates):
    window = Till(make_terminal(MerchantKind.TOPUP)[0])
    card = window.card(funded_card(0))

    # The defect: a cashier without the role (so without an account) takes 50 yuan: held.
    late = make_user("cash_late", None)
    window.send([window.deposit(card, 5000, operator_no=late.pk)])
    held = Record.objects.get(operator_no=late.pk)
    assert held.status == "exception" and "unknown_operator" in held.problems

    # The role is granted: the account opens; staff post the held top-up from the records admin.
    late.groups.add(role_group("cash_operator"))
    client.force_login(staff)
    assert b"unknown_operator" in client.get("/admin/terminals/record/?problem=unknown_operator").content
    client.post("/admin/terminals/record/", {"action": "post_records", "_selected_action": [held.pk], "confirm": "1",
                                             "reason": "cashier's role granted; cash counted"})
    held.refresh_from_db()
    assert held.status == "posted"
    assert cash_account(late).balance == 5000

    # A cashier granted the role first posts straight away.
    new = make_user("cash_new", "cash_operator")
    window.send([window.deposit(card, 2000, operator_no=new.pk)])
    assert Record.objects.get(operator_no=new.pk).status == "posted"
    assert cash_account(new).balance == 2000
    card.purse.account.refresh_from_db()
    assert card.purse.account.balance == 7000
