from django.contrib import admin
from django.urls import path

from live.dashboard import dashboard
from live.metrics import metrics

urlpatterns = [
    path("metrics", metrics, name="metrics"),
    path(
        "admin/migration-dashboard/", admin.site.admin_view(dashboard), name="migration-dashboard"
    ),
]
