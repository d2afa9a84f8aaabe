from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MoneyinConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "moneyin"
    verbose_name = _("Money in")
