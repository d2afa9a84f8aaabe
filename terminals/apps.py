from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TerminalsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'terminals'
    verbose_name = _("Terminals")

    def ready(self):
        from . import receivers  # noqa: F401  connects merchants' form signals
