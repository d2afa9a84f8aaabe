from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = _("Cards and accounts")

    def ready(self):
        from . import receivers
        from .setup import on_every_migrate, reference_data_ensure

        receivers.connect()  # a cash operator gets a cash account when the role is granted
        # Once every app's permissions exist (on_every_migrate).
        on_every_migrate(reference_data_ensure, dispatch_uid="accounts_reference_data")
