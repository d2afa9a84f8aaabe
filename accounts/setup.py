"""Reference data every database needs: system accounts, default fees, role groups.

Run after every migrate (and after a test flush) through post_migrate; idempotent.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import Group, Permission
from django.db.models import Q
from django.db.models.signals import post_migrate

from .models import AdjustmentLimit, FeeSchedule, LedgerAccount

K = LedgerAccount.Kind
SYSTEM_ACCOUNTS = [
    (K.CARD_FEE, "SYS-CARD-FEE", "卡片工本费专用帐户"),
    (K.MGMT_FEE, "SYS-MGMT-FEE", "系统管理费专用帐户"),
    (K.SURCHARGE, "SYS-SURCHARGE", "饮食服务中心代收搭伙费和能源费"),
    (K.BANK, "SYS-BANK", "银行清算"),
    (K.SUSPENSE, "SYS-SUSPENSE", "待查"),
    (K.CHANNEL, "SYS-CHANNEL", "在线支付渠道清算"),
    (K.SUBSIDY_FUND, "SYS-SUBSIDY-FUND", "补助资金（学校拨付）"),
    (K.SUBSIDY, "SYS-SUBSIDY", "已发放未领取补助"),
]
# The regulation's defaults (M§26, M§29): 30.00 yuan. The school changes them as data.
DEFAULT_FEES = [(FeeSchedule.Kind.NEW_CARD, 3000), (FeeSchedule.Kind.REPLACEMENT, 3000)]
# At most 5,000.00 yuan per adjustment (R-ADJ-1) until the school sets another limit: a bank
# reconciliation difference is one holder's top-up or refund, never more than a purse would hold.
DEFAULT_ADJUSTMENT_LIMIT = 500_000

# Roles of RULES.md: group name -> permissions ("app.codename"; "app.*" = all of an app).
ROLES: dict[str, list[str]] = {
    "super_admin": ["*"],
    "card_centre": [
        "accounts.view_cardholder", "accounts.add_cardholder", "accounts.change_cardholder",
        "accounts.view_card", "accounts.change_card", "accounts.issue_card", "accounts.import_batch",
        "accounts.report_loss", "accounts.freeze_card", "accounts.replace_card", "accounts.extend_card",
        "accounts.view_purse", "accounts.view_auditlog", "accounts.view_blocklistentry",
        "accounts.view_unit", "accounts.add_unit", "accounts.change_unit", "accounts.view_issuebatch",
        "accounts.add_issuebatch", "accounts.view_adjustmentrequest", "accounts.view_intake", "accounts.add_intake",
        "accounts.view_subsidybatch", "accounts.view_subsidyline",  # the counter answers "where is my subsidy"
        # Merchant and terminal records (M§2); settlement stays with finance.
        "merchants.*", "terminals.*",
    ],
    "finance": [
        "accounts.view_cardholder", "accounts.view_card", "accounts.view_purse", "accounts.view_auditlog",
        "accounts.view_ledgeraccount", "accounts.view_journal", "accounts.view_posting",
        "accounts.close_account", "accounts.adjust_account", "accounts.view_feeschedule",
        # R-ADJ-1: finance asks for adjustments and approves others' (never its own: the service).
        "accounts.add_adjustmentrequest", "accounts.view_adjustmentrequest", "accounts.view_adjustmentlimit",
        "accounts.add_feeschedule", "accounts.view_issuebatch", "accounts.view_unit",
        "merchants.view_merchant", "terminals.view_terminal", "terminals.view_record", "terminals.view_batch",
        # Subsidies: one finance user files a list, another approves it (R-ADJ-1, the service).
        "accounts.add_subsidybatch", "accounts.approve_subsidybatch", "accounts.view_subsidybatch",
        "accounts.view_subsidyline",
    ],
    # The cashier finds the holder at the counter, takes cash and reads their own cash report.
    "cash_operator": ["accounts.view_card", "accounts.view_cardholder", "accounts.deposit_cash"],
    "merchant_user": [],
    "unit_agent": ["accounts.view_unit", "accounts.import_batch", "accounts.view_issuebatch",
                   "accounts.add_issuebatch"],
}
ROLE_NAMES = {
    "super_admin": "超级管理员",
    "card_centre": "校园卡管理中心业务人员",
    "finance": "财务结算人员",
    "cash_operator": "现金充值业务人员",
    "merchant_user": "商户用户",
    "unit_agent": "单位批量经办人",
}


def role_group(role: str) -> Group:
    return Group.objects.get(name=ROLE_NAMES[role])


def group_permissions_add(group_perms: dict[str, list[str]]) -> None:
    """Give each named group these permissions ("app.codename"), creating the group if needed.
    Only adds: the apps above accounts extend the roles this way after every migrate."""
    for name, perms in group_perms.items():
        group, _ = Group.objects.get_or_create(name=name)
        q = Q(pk__in=[])
        for perm in perms:
            app, codename = perm.split(".")
            q |= Q(content_type__app_label=app, codename=codename)
        group.permissions.add(*Permission.objects.filter(q))


def on_every_migrate(handler, *, dispatch_uid: str) -> None:
    """Run ``handler`` once per migrate (or test flush): when post_migrate comes for the last app
    with models, after that app's permissions are made, so every app's exist. post_migrate is sent
    once for each app; run for each, the project's handlers took 1.2 s of every transactional
    test's flush. Handlers connected this way run in the order they were connected (app order)."""

    def receiver(sender, **kwargs):
        from django.apps import apps

        last = [a for a in apps.get_app_configs() if a.models_module is not None][-1]
        if sender.label == last.label:
            handler(**kwargs)

    # weak=False: nothing else holds the closure, and a weak reference would let it be collected.
    post_migrate.connect(receiver, dispatch_uid=dispatch_uid, weak=False)


def reference_data_ensure(**_) -> None:
    for kind, code, name in SYSTEM_ACCOUNTS:
        LedgerAccount.objects.get_or_create(
            kind=kind, defaults={"code": code, "name": name, "normal": LedgerAccount.NORMAL[kind]}
        )
    if not AdjustmentLimit.objects.exists():
        AdjustmentLimit.objects.create(amount=DEFAULT_ADJUSTMENT_LIMIT, effective_from=dt.date(2000, 1, 1))
    for kind, amount in DEFAULT_FEES:
        if not FeeSchedule.objects.filter(kind=kind).exists():
            FeeSchedule.objects.create(kind=kind, amount=amount, effective_from=dt.date(2000, 1, 1))
    for role, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=ROLE_NAMES[role])
        if perms == ["*"]:
            wanted = Permission.objects.all()
        else:
            q = Q(pk__in=[])
            for perm in perms:
                app, codename = perm.split(".")
                q |= Q(content_type__app_label=app) if codename == "*" else Q(content_type__app_label=app, codename=codename)
            wanted = Permission.objects.filter(q)
        group.permissions.add(*wanted)
    from .services import cash_operators_ensure_accounts

    cash_operators_ensure_accounts(reason="cash operator without an account, found after migrate")
