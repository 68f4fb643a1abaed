"""The admin, for real inspection work on a large catalog.

Every changelist selects its related rows up front (no N+1), foreign keys use autocomplete or
raw-id widgets (no 100,000-option selects), and large counts on PostgreSQL come from the
planner's estimate instead of a full scan on every page. These admins save straight to
the tables; the live switch (live/admin.py) registers them again with saves that go through its
write service, so that an edit reaches both stores.
"""

import json

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection, models
from django.db.models import Q
from django.utils.functional import cached_property
from django.utils.text import smart_split, unescape_string_literal

from catalog.models import Model, ModelStatus, Provider

TIMESTAMPS = ("created_at", "updated_at")
# A URL typed without a scheme means https (Django 6's default, today).
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


class EstimatedCountPaginator(Paginator):
    """On PostgreSQL, the planner's estimate of the rows when it is ``EXACT_BELOW`` or more (a
    count of a million rows reads them all: about a second); exact counts below that."""

    EXACT_BELOW = 50_000

    @cached_property
    def count(self):
        query = getattr(self.object_list, "query", None)
        if connection.vendor == "postgresql" and query is not None:
            sql, params = self.object_list.order_by().query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
                plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            estimate = int(plan[0]["Plan"]["Plan Rows"])
            if estimate >= self.EXACT_BELOW:
                return estimate
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
    # Rendering a row costs more than finding it: 50 rows keep a page well under 300 ms.
    list_per_page = 50

    def get_readonly_fields(self, request, obj=None):
        # The slug derives from provider and name (DESIGN.md): both fixed once created.
        return (*self.readonly_fields, "provider", "name") if obj else self.readonly_fields


def search_terms(search_term: str) -> list[str]:
    """The admin's own splitting of a search: words, or "quoted phrases"."""
    return [
        unescape_string_literal(bit) if bit[:1] in ("'", '"') and bit[-1:] == bit[:1] else bit
        for bit in smart_split(search_term)
    ]


@admin.register(ModelStatus)
class ModelStatusAdmin(admin.ModelAdmin):
    list_display = ("model", "region", "status", "availability", "latency_p95", "checked_at")
    list_filter = ("status", "model__provider")
    list_select_related = ("model",)
    # Searched by get_search_results below: model slug contains, or region is, each word.
    search_fields = ("model__slug", "=region")
    search_help_text = "A model's slug (or part of it), or a region."
    list_per_page = 50
    # Models matched by slug are looked up first when they are at most this many: the statuses
    # are then found through their indexes instead of joining every status to its model.
    MODEL_IDS_MAX = 5000
    raw_id_fields = ("model",)
    readonly_fields = TIMESTAMPS
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        for term in search_terms(search_term):
            matching = Model.objects.filter(slug__icontains=term).order_by()
            ids = list(matching.values_list("id", flat=True)[: self.MODEL_IDS_MAX + 1])
            if len(ids) > self.MODEL_IDS_MAX:
                by_model = Q(model__slug__icontains=term)
            else:
                by_model = Q(model_id__in=ids)
            queryset = queryset.filter(by_model | Q(region=term))
        return queryset, False

    def get_readonly_fields(self, request, obj=None):
        # Model and region are the status's identity: fixed once created.
        return (*self.readonly_fields, "model", "region") if obj else self.readonly_fields
