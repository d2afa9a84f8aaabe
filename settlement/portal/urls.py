from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import views

app_name = "portal"
urlpatterns = [
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page=reverse_lazy("portal:login")), name="logout"),
    path("", views.home, name="home"),
    path("records/", views.records, name="records"),
    path("records.csv", views.records_csv, name="records-csv"),
    path("duplicates/", views.duplicates, name="duplicates"),
    path("duplicates/<int:pk>/refund/", views.duplicate_refund, name="duplicate-refund"),
    path("statements/", views.statements, name="statements"),
    path("statements/<int:pk>/", views.statement_detail, name="statement"),
    path("statements/<int:pk>/apply/", views.statement_apply, name="statement-apply"),
    path("statements/<int:pk>/statement.<str:fmt>", views.statement_download, name="statement-file"),
    path("corrections/", views.corrections, name="corrections"),
    path("corrections/new/", views.correction_new, name="correction-new"),
]
