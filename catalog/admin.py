"""The admin, for real inspection work on a large catalog.

Every changelist selects its related rows up front (no N+1), foreign keys use autocomplete or
raw-id widgets (no 100,000-option selects), and unfiltered counts of large PostgreSQL tables come
from the planner's estimate instead of a full scan on every page. Edits go through the write
service (migrator.writes), like every other write.
"""

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection, models
from django.utils.functional import cached_property

from catalog.models import Model, ModelStatus, Provider
from catalog.serializers import MODEL_COLUMNS, PROVIDER_COLUMNS, STATUS_COLUMNS
from migrator import mapping, writes

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


class CatalogForm(forms.ModelForm):
    """Refuses an edit that would not reach what clients read (see migrator.writes)."""

    def clean(self):
        blocked = writes.admin_edits_blocked()
        if blocked:
            raise forms.ValidationError(blocked)
        return super().clean()


def _row(obj, columns) -> dict:
    return {column: getattr(obj, column) for column in columns}


class WriteThroughAdmin(admin.ModelAdmin):
    """Saves and deletes go through the write service (the database, then the JSON export when
    dual-write is on), never straight to the table; the form says when edits are blocked."""

    form = CatalogForm
    entity = ""

    def operation(self, obj) -> tuple[str, dict]:
        raise NotImplementedError

    def natural_key(self, obj):
        return obj.slug

    def save_model(self, request, obj, form, change):
        kind, fields = self.operation(obj)
        writes.admin_write(kind, actor=f"admin:{request.user.get_username()}", **fields)
        # The service wrote the row by its natural key: give the admin its primary key back.
        obj.pk = self.model.objects.get(**self.lookup(obj)).pk

    def lookup(self, obj) -> dict:
        return {"slug": obj.slug}

    def delete_model(self, request, obj):
        writes.admin_write(
            "delete",
            actor=f"admin:{request.user.get_username()}",
            entity=self.entity,
            key=self.natural_key(obj),
        )

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


def status_operation(obj) -> tuple[str, dict]:
    record = mapping.unmap_status(_row(obj, STATUS_COLUMNS))
    return "status", {"model": obj.model.slug, "record": record}


@admin.register(Provider)
class ProviderAdmin(WriteThroughAdmin):
    entity = "providers"
    formfield_overrides = URL_FIELDS
    list_display = ("name", "slug", "website_url", "updated_at")
    search_fields = ("slug", "name")
    readonly_fields = ("source_id", *TIMESTAMPS)
    inlines = [ModelInline]

    def get_readonly_fields(self, request, obj=None):
        # The slug is the provider's identity in the export: fixed once created.
        return (*self.readonly_fields, "slug") if obj else self.readonly_fields

    def operation(self, obj):
        return "provider", {"record": mapping.unmap_provider(_row(obj, PROVIDER_COLUMNS))}


@admin.register(Model)
class ModelAdmin(WriteThroughAdmin):
    entity = "models"
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

    def operation(self, obj):
        provider = _row(obj.provider, PROVIDER_COLUMNS)
        return "model", {"record": mapping.unmap_model(_row(obj, MODEL_COLUMNS), provider)}

    def lookup(self, obj):
        return {"slug": mapping.derive_model_slug(obj.provider.slug, obj.name)}

    def save_formset(self, request, form, formset, change):
        if formset.model is not ModelStatus:
            return super().save_formset(request, form, formset, change)
        actor = f"admin:{request.user.get_username()}"
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            writes.admin_write(
                "delete",
                actor=actor,
                entity="statuses",
                key={"model": obj.model.slug, "region": obj.region},
            )
        for obj in instances:
            obj.model = form.instance
            kind, fields = status_operation(obj)
            writes.admin_write(kind, actor=actor, **fields)
        return None


@admin.register(ModelStatus)
class ModelStatusAdmin(WriteThroughAdmin):
    entity = "statuses"
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

    def operation(self, obj):
        return status_operation(obj)

    def natural_key(self, obj):
        return {"model": obj.model.slug, "region": obj.region}

    def lookup(self, obj):
        return {"model": obj.model, "region": obj.region}
