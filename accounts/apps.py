from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = _("Cards and accounts")

    def ready(self):
        from . import receivers
        from .setup import after_every_app_migrated, reference_data_ensure

        receivers.connect()  # a cash operator gets a cash account when the role is granted
        # Once every app's permissions exist (after_every_app_migrated).
        post_migrate.connect(after_every_app_migrated(reference_data_ensure), dispatch_uid="accounts_reference_data", weak=False)
