from django.urls import path

from . import views

app_name = "kiosk"
urlpatterns = [
    path("", views.start, name="start"),
    path("cards/", views.cards, name="cards"),
    path("cards/<int:card_no>/loss/", views.loss, name="loss"),
    path("cards/<int:card_no>/reported/", views.reported, name="reported"),
    path("reset/", views.reset, name="reset"),
    path("end/", views.end, name="end"),
]
