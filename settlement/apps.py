from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SettlementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "settlement"
    verbose_name = _("Settlement and reconciliation")

    def ready(self):
        from accounts.setup import on_every_migrate

        from .setup import settlement_groups_ensure

        # After accounts' and merchants' handlers (app order): the role groups exist by then.
        on_every_migrate(settlement_groups_ensure, dispatch_uid="settlement_groups")
