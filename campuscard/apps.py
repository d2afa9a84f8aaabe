from axes.apps import AppConfig as AxesAppConfig
from django.utils.translation import gettext_lazy as _


class AxesConfig(AxesAppConfig):
    """django-axes (login lockouts) under a name the admin shows in the reader's language."""

    verbose_name = _("Login lockouts")
