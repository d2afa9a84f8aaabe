from django.urls import path

from . import views

app_name = "moneyin"
urlpatterns = [
    path("notify/", views.notify, name="notify"),
    path("kiosk/topup/", views.kiosk_topup, name="kiosk_topup"),
    path("kiosk/topup/<str:out_trade_no>/", views.kiosk_order, name="kiosk_order"),
]
