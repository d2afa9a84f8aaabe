from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class MoneyinConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "moneyin"
    verbose_name = _("Money in")

    def ready(self):
        from .setup import moneyin_groups_ensure

        # After accounts' handler (app order): the role groups exist by then.
        post_migrate.connect(moneyin_groups_ensure, dispatch_uid="moneyin_groups")
