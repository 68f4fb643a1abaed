from django.contrib import admin
from django.urls import include, path
from health_check.views import HealthCheckView

# django-health-check 4.x: checks are listed here, explicitly. Its default list also probes DNS and
# mail, which fail on hosts without outbound network; this service needs neither.
HEALTH_CHECKS = [
    "health_check.checks.Database",
    "health_check.checks.Cache",
    "catalog.health.CatalogSchema",
]

urlpatterns = [
    # /metrics and the admin's migration dashboard (before admin/: its URL is under it).
    path("", include("live.urls")),
    path("admin/", admin.site.urls),
    # Before live's api/v1/: /api/v1/debug/db is the operations app's.
    path("", include("operations.urls")),
    path("api/v1/", include("live.api.urls")),
    path("healthz", HealthCheckView.as_view(checks=HEALTH_CHECKS), name="healthz"),
    # The seeds' spelling of the same check.
    path("api/health", HealthCheckView.as_view(checks=HEALTH_CHECKS), name="api-health"),
]
