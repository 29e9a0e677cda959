from django.urls import path

from apps.checkout import views

app_name = "checkout"
urlpatterns = [
    path("checkout/balance", views.BalanceView.as_view(), name="balance"),
    path("checkout/transactions", views.TransactionListView.as_view(), name="transaction-list"),
    path("checkout/charges", views.ChargeView.as_view(), name="charge-create"),
]
