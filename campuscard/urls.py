"""CampusCard URLs: the back office (Django admin), the language switch and the fronts."""

from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("CampusCard back office")
admin.site.site_title = _("CampusCard")
admin.site.index_title = _("Card centre")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("kiosk/", include("accounts.kiosk.urls")),
]
