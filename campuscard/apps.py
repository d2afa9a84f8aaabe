from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampuscardConfig(AppConfig):
    default = True  # this module holds two AppConfigs; this one is campuscard's
    default_auto_field = "django.db.models.BigAutoField"
    name = "campuscard"
    verbose_name = _("System and API clients")


class AxesConfig(AxesAppConfig):
    """django-axes (login lockouts) under a name the admin shows in the reader's language."""

    default = False
    verbose_name = _("Login lockouts")
