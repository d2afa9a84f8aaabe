from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class SettlementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "settlement"
    verbose_name = _("Settlement and reconciliation")

    def ready(self):
        from accounts.setup import after_every_app_migrated

        from .setup import settlement_groups_ensure

        # After accounts' and merchants' handlers (app order): the role groups exist by then.
        post_migrate.connect(after_every_app_migrated(settlement_groups_ensure), dispatch_uid="settlement_groups", weak=False)
