from django.urls import path

from . import views

app_name = "finance"
urlpatterns = [
    path("", views.home, name="home"),
    path("statements/<int:pk>/<str:action>/", views.statement_action, name="statement-action"),
    path("reports/settlement.<str:fmt>", views.settlement_report, name="settlement-report"),
    path("reports/payouts.<str:fmt>", views.payout_list, name="payout-list"),
    path("reports/day-close.<str:fmt>", views.day_close_report, name="day-close-report"),
    path("special-accounts/", views.special_accounts, name="special-accounts"),
]
