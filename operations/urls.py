from django.urls import path

from operations import views

urlpatterns = [
    path("", views.index, name="index"),
    path("docs/<str:name>", views.document, name="document"),
    path("api/cron/sync-models", views.cron_sync_models, name="cron-sync-models"),
    path("api/v1/debug/db", views.debug_db, name="debug-db"),
]
