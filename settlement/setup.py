"""Settlement permissions for the roles of RULES.md, after every migrate (idempotent).

The card centre runs the close, checks statements with the merchant and handles refunds and
corrections; finance approves and pays (adjustments: accounts.setup); card-centre staff never approve
or pay (segregation of duties); merchant users apply for settlement and ask for corrections.
"""

from __future__ import annotations

from accounts.setup import ROLE_NAMES, group_permissions_add
from merchants.setup import MERCHANT_GROUP

VIEW_ALL = [f"settlement.view_{m}" for m in (
    "dayclose", "daymerchanttotal", "dayterminaltotal", "dayoperatortotal", "daycardtypetotal", "dayaccounttotal",
    "daypurse", "closeexception", "statement", "merchantpolicy", "refund", "correction",
    "graduationclosure", "closureline")]

GROUP_PERMS: dict[str, list[str]] = {
    ROLE_NAMES["card_centre"]: VIEW_ALL + [
        "settlement.run_dayclose", "settlement.resolve_closeexception", "settlement.check_statement",
        "settlement.add_refund", "settlement.add_correction", "settlement.decide_correction",
        "settlement.change_merchantpolicy", "settlement.add_graduationclosure",
    ],
    ROLE_NAMES["finance"]: VIEW_ALL + [
        "settlement.approve_statement", "settlement.pay_statement",
    ],
    MERCHANT_GROUP: ["settlement.apply_statement", "settlement.add_correction"],
}


def settlement_groups_ensure(**_) -> None:
    group_permissions_add(GROUP_PERMS)
