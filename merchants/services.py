"""Writes for merchants."""

from django.db import transaction

from accounts.models import LedgerAccount
from accounts.errors import BusinessError
from accounts.services import audit_write, ledger_account_create, permission_require

from .models import Merchant, MerchantKind


@transaction.atomic
def merchant_create(*, actor, code: str, name: str, kind: int, internal: bool = True) -> Merchant:
    permission_require(actor, "merchants.add_merchant")

    code, name = (code or "").strip(), (name or "").strip()
    if not code or not name:
        raise BusinessError("A merchant needs a code and a name.")
    if kind not in MerchantKind.values:
        raise BusinessError(f"Unknown merchant kind {kind!r}.")
    if Merchant.objects.filter(code=code).exists():
        raise BusinessError(f"Merchant {code} already exists.")
    account = ledger_account_create(kind=LedgerAccount.Kind.MERCHANT, code=f"MER-{code}", name=f"应付商户 {name}")
    merchant = Merchant.objects.create(code=code, name=name, kind=kind, internal=internal, payable_account=account)
    audit_write(action="merchant_create", actor=actor, merchant=code, kind=kind)
    return merchant
