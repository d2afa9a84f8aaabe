"""Role grants that need a ledger fact: a cash operator's cash account (connected in AccountsConfig.ready).

Group membership changes through user.groups (the admin's user form, a service) or through
group.user_set; both send m2m_changed on the same through model, with the sides swapped."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed

from .services import cash_operators_ensure_accounts


def role_granted(sender, *, instance, action, reverse, pk_set, **_):
    if action != "post_add" or not pk_set:
        return
    if reverse:  # group.user_set.add(users): instance is the group
        cash_operators_ensure_accounts(user_ids=pk_set)
    else:  # user.groups.add(groups): instance is the user
        cash_operators_ensure_accounts(user_ids=[instance.pk])


def connect() -> None:
    m2m_changed.connect(role_granted, sender=get_user_model().groups.through, dispatch_uid="accounts_role_granted")
