"""CampusCard URLs: the back office (Django admin), the language switch and the fronts."""

from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from campuscard.health import health

admin.site.site_header = _("CampusCard back office")
admin.site.site_title = _("CampusCard")
admin.site.index_title = _("Card centre")
admin.site.site_url = "/desk/"  # "View site" leads to the desk, the counter's front

urlpatterns = [
    path("", RedirectView.as_view(url="/desk/", permanent=False)),
    path("desk/", include("desk.urls")),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("kiosk/", include("accounts.kiosk.urls")),
    path("moneyin/", include("moneyin.urls")),
    path("merchant/", include("settlement.portal.urls")),
    path("finance/", include("settlement.finance.urls")),
    path("api/v1/", include("campuscard.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(api_version="1", permission_classes=[]), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[]), name="api-docs"),
]
