"""python manage.py terminal_add --merchant <code> [--kind dining|water|retail|topup]"""

from django.core.management.base import BaseCommand, CommandError

from accounts.errors import BusinessError
from merchants.models import MerchantKind
from merchants.selectors import merchant_get
from terminals.services import terminal_add

KINDS = {"dining": MerchantKind.DINING, "water": MerchantKind.WATER, "retail": MerchantKind.RETAIL,
         "topup": MerchantKind.TOPUP}


class Command(BaseCommand):
    help = "Register a terminal for a merchant and print its id and key (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True)
        parser.add_argument("--kind", choices=sorted(KINDS))
        parser.add_argument("--asset-no", default="")

    def handle(self, *args, merchant, kind=None, asset_no="", **opts):
        from django.contrib.auth import get_user_model

        m = merchant_get(code=merchant)
        if m is None:
            raise CommandError(f"No merchant with code {merchant!r}.")
        actor = get_user_model().objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if actor is None:
            raise CommandError("Create a super admin first (python manage.py createsuperuser).")
        try:
            terminal, key = terminal_add(actor=actor, merchant=m, kind=KINDS[kind] if kind else None, asset_no=asset_no)
        except BusinessError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"terminal_id={terminal.pk} key={key.hex()}")
