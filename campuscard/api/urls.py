from django.urls import path

from . import views

app_name = "api"
urlpatterns = [
    path("cards/<int:card_no>/", views.CardStatusView.as_view(), name="card"),
    path("holders/intake/", views.HolderIntakeView.as_view(), name="holders-intake"),
    path("holders/<str:number>/cards/", views.HolderCardsView.as_view(), name="holder-cards"),
    path("cards/<int:card_no>/functions/", views.CardFunctionsView.as_view(), name="card-functions"),
    path("merchants/<str:code>/revenue/", views.MerchantRevenueView.as_view(), name="merchant-revenue"),
    path("merchants/<str:code>/settlements/", views.MerchantSettlementsView.as_view(), name="merchant-settlements"),
]
