"""Money-in permissions for the roles of RULES.md, after every migrate (idempotent): finance
imports the bank's statements and reconciles; the card centre makes counter bank transfers."""

from __future__ import annotations

from accounts.setup import ROLE_NAMES, group_permissions_add

VIEW_ALL = [f"moneyin.view_{m}" for m in ("banktransfer", "bankstatement", "statementdifference", "onlineorder")]
GROUP_PERMS: dict[str, list[str]] = {
    ROLE_NAMES["card_centre"]: VIEW_ALL + ["moneyin.bank_transfer"],
    ROLE_NAMES["finance"]: VIEW_ALL + ["moneyin.reconcile_bank", "moneyin.refund_online"],
}


def moneyin_groups_ensure(**_) -> None:
    group_permissions_add(GROUP_PERMS)
