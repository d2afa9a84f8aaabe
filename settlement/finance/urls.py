from django.urls import path

from . import views

app_name = "finance"
urlpatterns = [
    path("", views.home, name="home"),
    path("statements/<int:pk>/<str:action>/", views.statement_action, name="statement-action"),
    path("reports/settlement.<str:fmt>", views.settlement_report, name="settlement-report"),
    path("reports/payouts.<str:fmt>", views.payout_list, name="payout-list"),
    path("reports/day-close.<str:fmt>", views.day_close_report, name="day-close-report"),
    path("payouts/", views.payouts, name="payouts"),
    path("adjustments/", views.adjustments, name="adjustments"),
    path("adjustments/<int:pk>/<str:action>/", views.adjustment_decide, name="adjustment-decide"),
    path("closures/", views.closures, name="closures"),
    path("closures/new/", views.closure_new, name="closure-new"),
    path("closures/<int:pk>/", views.closure_detail, name="closure"),
    path("closures/<int:pk>/bank.csv", views.closure_bank_file, name="closure-bank-file"),
    path("closures/<int:pk>/unpaid.xlsx", views.closure_unpaid_file, name="closure-unpaid-file"),
    path("special-accounts/", views.special_accounts, name="special-accounts"),
]
