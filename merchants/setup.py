"""Groups and permissions of the merchant side, run after every migrate (idempotent).

Merchant users join accounts' role group "merchant_user" (商户用户), which gets the portal
permissions here, when they are linked to a merchant (merchant_user_add): one merchant role.
Managing-unit officers get a group of their own: they approve their unit's merchants' forms
(U§5, U§6, U§15, U§19).
"""

from __future__ import annotations

from django.contrib.auth.models import Group

from accounts.setup import ROLE_NAMES, group_permissions_add

MERCHANT_GROUP = ROLE_NAMES["merchant_user"]
UNIT_APPROVER_GROUP = "商户主管部门审核人"
CENTRE_GROUP = ROLE_NAMES["card_centre"]
FINANCE_GROUP = ROLE_NAMES["finance"]

GROUP_PERMS: dict[str, list[str]] = {
    MERCHANT_GROUP: ["merchants.use_portal", "merchants.submit_application", "merchants.view_application"],
    UNIT_APPROVER_GROUP: ["merchants.view_merchant", "merchants.view_application", "merchants.decide_application"],
    FINANCE_GROUP: ["merchants.view_merchant", "merchants.view_merchantuser", "merchants.view_application",
                    "merchants.decide_application"],
    CENTRE_GROUP: ["merchants.view_application", "merchants.add_application", "merchants.submit_application",
                   "merchants.decide_application", "merchants.revoke_merchant"],
}


def merchant_group() -> Group:
    return Group.objects.get_or_create(name=MERCHANT_GROUP)[0]


def unit_approver_group() -> Group:
    return Group.objects.get_or_create(name=UNIT_APPROVER_GROUP)[0]


def merchant_groups_ensure(**_) -> None:
    group_permissions_add(GROUP_PERMS)
