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
]
