from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DevtoolsConfig(AppConfig):
    """Development tools on top of every app: the terminal simulator, the demo history and the
    demo seed. Nothing in the product imports this app."""

    name = "devtools"
    verbose_name = _("Development tools")
