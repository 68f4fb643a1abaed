from django.urls import path

from live.api import views
from live.api.stats import dual_write_stats

app_name = "api"

urlpatterns = [
    path("models", views.model_list, name="model-list"),
    path("models/<str:slug>", views.model_detail, name="model-detail"),
    path("models/<str:slug>/status", views.model_status_write, name="model-status-write"),
    path("providers", views.provider_list, name="provider-list"),
    path("status", views.status, name="status"),
    path("dual-write/stats", dual_write_stats, name="dual-write-stats"),
]
