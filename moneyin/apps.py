from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MoneyinConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "moneyin"
    verbose_name = _("Money in")

    def ready(self):
        from accounts.admin_views import audit_value_labels_add
        from accounts.setup import on_every_migrate

        from .models import BankTransfer
        from .setup import moneyin_groups_ensure

        # The words for the codes moneyin writes into audit details.
        audit_value_labels_add("status", BankTransfer.Status.choices)
        audit_value_labels_add("via", [("notify", _("the channel's notify")), ("query", _("a query to the channel"))])

        # After accounts' handler (app order): the role groups exist by then.
        on_every_migrate(moneyin_groups_ensure, dispatch_uid="moneyin_groups")
