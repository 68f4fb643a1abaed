"""The admin, for real inspection work on a large catalog.

Every changelist selects its related rows up front (no N+1), foreign keys use autocomplete or
raw-id widgets (no 100,000-option selects), and unfiltered counts of large PostgreSQL tables come
from the planner's estimate instead of a full scan on every page. These admins save straight to
the tables; the live switch (live/admin.py) registers them again with saves that go through its
write service, so that an edit reaches both stores.
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection, models
from django.utils.functional import cached_property

from catalog.models import Model, ModelStatus, Provider

TIMESTAMPS = ("created_at", "updated_at")
# A URL typed without a scheme means https (Django 6's default, today).
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


class EstimatedCountPaginator(Paginator):
    """Exact counts below ``EXACT_BELOW`` rows or with filters; the planner's estimate above."""

    EXACT_BELOW = 50_000

    @cached_property
    def count(self):
        query = getattr(self.object_list, "query", None)
        if connection.vendor == "postgresql" and query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] >= self.EXACT_BELOW:
                return row[0]
        return super().count


class ModelInline(admin.TabularInline):
    model = Model
    fields = ("name", "slug", "is_active", "context_window", "released_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class StatusInline(admin.TabularInline):
    model = ModelStatus

    fields = (
        "region",
        "status",
        "availability",
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "error_rate",
        "checked_at",
    )
    extra = 0

    def get_queryset(self, request):
        # Each row's title is the status's __str__, which names the model.
        return super().get_queryset(request).select_related("model")


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    formfield_overrides = URL_FIELDS
    list_display = ("name", "slug", "website_url", "updated_at")
    search_fields = ("slug", "name")
    readonly_fields = ("source_id", *TIMESTAMPS)
    inlines = [ModelInline]

    def get_readonly_fields(self, request, obj=None):
        # The slug is the provider's identity in the export: fixed once created.
        return (*self.readonly_fields, "slug") if obj else self.readonly_fields


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "provider", "is_active", "is_featured", "released_at")
    list_filter = ("is_active", "is_featured", "provider")
    list_select_related = ("provider",)
    search_fields = ("slug", "name")
    autocomplete_fields = ("provider",)
    readonly_fields = ("slug", "source_id", *TIMESTAMPS)
    inlines = [StatusInline]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        # The slug derives from provider and name (DESIGN.md): both fixed once created.
        return (*self.readonly_fields, "provider", "name") if obj else self.readonly_fields


@admin.register(ModelStatus)
class ModelStatusAdmin(admin.ModelAdmin):
    list_display = ("model", "region", "status", "availability", "latency_p95", "checked_at")
    list_filter = ("status", "model__provider")
    list_select_related = ("model",)
    search_fields = ("model__slug", "=region")
    raw_id_fields = ("model",)
    readonly_fields = TIMESTAMPS
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        # Model and region are the status's identity: fixed once created.
        return (*self.readonly_fields, "model", "region") if obj else self.readonly_fields
