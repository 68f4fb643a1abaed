from django.urls import path

from catalog.api import views

app_name = "api"

urlpatterns = [
    path("models", views.model_list, name="model-list"),
    path("models/<str:slug>", views.model_detail, name="model-detail"),
    path("providers", views.provider_list, name="provider-list"),
    path("status", views.status, name="status"),
]
