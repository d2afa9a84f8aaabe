"""Reads of merchants."""

from .models import Merchant


def merchant_get(*, code: str) -> Merchant | None:
    return Merchant.objects.select_related("payable_account").filter(code=code).first()
