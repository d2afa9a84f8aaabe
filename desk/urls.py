from django.urls import path

from . import cash, intake, today, views

app_name = "desk"
urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("holders/new/", views.holder_new, name="holder-new"),
    path("holders/<int:pk>/", views.holder, name="holder"),
    path("holders/<int:pk>/edit/", views.holder_edit, name="holder-edit"),
    path("holders/<int:pk>/photo/", views.holder_photo, name="holder-photo"),
    path("holders/<int:pk>/<slug:slug>/", views.holder_action, name="holder-action"),
    path("cards/<int:card_no>/", views.card, name="card"),
    path("cards/<int:card_no>/<slug:slug>/", views.card_action, name="card-action"),
    path("receipts/<int:pk>/", views.receipt, name="receipt"),
    path("cash/", cash.cash_report, name="cash"),
    path("today/<slug:what>/", today.today, name="today"),
    path("intake/", intake.intake_list, name="intake-list"),
    path("intake/template.csv", intake.intake_template, name="intake-template"),
    path("intake/<int:pk>/", intake.intake_detail, name="intake"),
    path("intake/<int:pk>/apply/", intake.intake_apply, name="intake-apply"),
    path("intake/<int:pk>/cancel/", intake.intake_cancel, name="intake-cancel"),
    path("intake/<int:pk>/production.zip", intake.intake_production, name="intake-production"),
]
