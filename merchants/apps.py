from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MerchantsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "merchants"
    verbose_name = _("Merchants")

    def ready(self):
        from accounts.setup import on_every_migrate

        from .setup import merchant_groups_ensure

        # Connected after accounts' handler (app order), so the role groups it makes exist.
        on_every_migrate(merchant_groups_ensure, dispatch_uid="merchants_groups")
