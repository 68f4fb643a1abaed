"""The live switch in the admin: its state and audit log (read-only), the write queues, shadow
mismatches, and the catalog's admins registered again so that every edit goes through the write
service (the primary store, then the secondary when dual-write is on)."""

from django import forms
from django.contrib import admin

from catalog import admin as catalog_admin
from catalog.models import Model, ModelStatus, Provider
from catalog.serializers import MODEL_COLUMNS, PROVIDER_COLUMNS, STATUS_COLUMNS
from live import writes
from migrator import mapping
from migrator.admin import ReadOnlyAdmin, json_display
from migrator.models import AuditEntry, BackendState, PendingWrite, ShadowMismatch, StoreWriteStats


class CatalogForm(forms.ModelForm):
    """Refuses an edit that would not reach what clients read (see live.writes)."""

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


class ProviderAdmin(WriteThroughAdmin, catalog_admin.ProviderAdmin):
    entity = "providers"

    def operation(self, obj):
        return "provider", {"record": mapping.unmap_provider(_row(obj, PROVIDER_COLUMNS))}


class ModelAdmin(WriteThroughAdmin, catalog_admin.ModelAdmin):
    entity = "models"

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


class ModelStatusAdmin(WriteThroughAdmin, catalog_admin.ModelStatusAdmin):
    entity = "statuses"

    def operation(self, obj):
        return status_operation(obj)

    def natural_key(self, obj):
        return {"model": obj.model.slug, "region": obj.region}

    def lookup(self, obj):
        return {"model": obj.model, "region": obj.region}


for _model, _admin in (
    (Provider, ProviderAdmin),
    (Model, ModelAdmin),
    (ModelStatus, ModelStatusAdmin),
):
    admin.site.unregister(_model)
    admin.site.register(_model, _admin)


@admin.register(BackendState)
class BackendStateAdmin(ReadOnlyAdmin):
    """The live state, to look at: change it with `manage.py switch_backend` (audited)."""

    list_display = (
        "active",
        "previous",
        "dual_write",
        "canary_enabled",
        "canary_percent",
        "shadow_enabled",
        "auto_rollback",
        "version",
        "updated_at",
    )


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "forced", "reason")
    list_filter = ("action", "forced")
    search_fields = ("actor", "reason")
    readonly_fields = ("at", "actor", "action", "forced", "reason", "before_json", "after_json")
    exclude = ("before", "after")
    before_json = json_display("before", "state before")
    after_json = json_display("after", "state after")


@admin.register(StoreWriteStats)
class StoreWriteStatsAdmin(ReadOnlyAdmin):
    list_display = (
        "store",
        "attempted",
        "succeeded",
        "success_rate",
        "last_error",
        "last_error_at",
    )

    @admin.display(description="success rate")
    def success_rate(self, stats):
        return f"{stats.succeeded / stats.attempted:.2%}" if stats.attempted else "-"


@admin.register(PendingWrite)
class PendingWriteAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "store", "attempts", "last_attempt_at", "last_error")
    list_filter = ("store",)
    readonly_fields = (
        "created_at",
        "store",
        "attempts",
        "last_attempt_at",
        "last_error",
        "operation_json",
    )
    exclude = ("operation",)
    operation_json = json_display("operation")


@admin.register(ShadowMismatch)
class ShadowMismatchAdmin(ReadOnlyAdmin):
    list_display = ("at", "path", "serving")
    readonly_fields = ("at", "path", "serving", "difference")
