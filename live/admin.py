"""The live switch in the admin: its state and audit log (read-only), the write queues, shadow
mismatches, and the catalog's admins registered again so that every edit goes through the write
service (the primary store, then the secondary when dual-write is on)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm

from catalog import admin as catalog_admin
from catalog.models import Model, ModelStatus, Provider
from catalog.serializers import MODEL_COLUMNS, PROVIDER_COLUMNS, STATUS_COLUMNS
from live import dead_letters, writes
from migrator import mapping
from migrator.admin import ReadOnlyAdmin, json_display
from migrator.errors import MigratorError
from migrator.models import (
    AuditEntry,
    BackendState,
    DeadLetter,
    PendingWrite,
    ShadowMismatch,
    StoreWriteStats,
)


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
        "override",
        "maintenance",
        "dual_write",
        "canary_enabled",
        "canary_percent",
        "shadow_enabled",
        "auto_rollback",
        "guard_thresholds",
        "version",
        "updated_at",
    )
    readonly_fields = (*list_display, "previous", "canary_header", "canary_value")
    exclude = ("thresholds", "override_seen")

    @admin.display(description="DATA_BACKEND_OVERRIDE")
    def override(self, state):
        value = settings.DATA_BACKEND_OVERRIDE
        return f"{value} (wins over this row)" if value else "-"

    @admin.display(description="auto-rollback thresholds")
    def guard_thresholds(self, state):
        from live.runtime import State

        t = State.from_row(state).thresholds
        return (
            f"error rate > {t['error_rate'] * 100:g}%, p95 > {t['p95_seconds'] * 1000:g} ms, "
            f"mismatches > {t['mismatches']}, min {t['min_requests']} reads, "
            f"{t['window_seconds']:g} s"
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


class DeadLetterActionForm(ActionForm):
    reason = forms.CharField(required=False, label="reason (to discard)", max_length=500)


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    """Writes a store refused again and again: retry them, or discard them with a reason."""

    list_display = ("dead_at", "store", "attempts", "error", "resolution", "resolved_by")
    list_filter = ("store", "resolution")
    readonly_fields = (
        "store",
        "error",
        "attempts",
        "queued_at",
        "dead_at",
        "resolution",
        "resolved_at",
        "resolved_by",
        "resolution_reason",
        "operation_json",
    )
    exclude = ("operation",)
    operation_json = json_display("operation")
    action_form = DeadLetterActionForm
    actions = ("retry", "discard")

    def has_resolve_permission(self, request):
        """Retry and discard: whoever may change dead letters (superusers)."""
        return request.user.has_perm("migrator.change_deadletter")

    @admin.action(description="Retry the selected writes now", permissions=["resolve"])
    def retry(self, request, queryset):
        actor = f"admin:{request.user.get_username()}"
        applied = failed = 0
        for letter in queryset.filter(resolution=""):
            if dead_letters.dead_letter_retry(letter=letter, actor=actor):
                applied += 1
            else:
                failed += 1
        self.message_user(request, f"{applied} applied, {failed} still refused")

    @admin.action(
        description="Discard the selected writes (give a reason)", permissions=["resolve"]
    )
    def discard(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, "give a reason to discard", level=messages.ERROR)
            return
        actor = f"admin:{request.user.get_username()}"
        count = 0
        for letter in queryset.filter(resolution=""):
            try:
                dead_letters.dead_letter_discard(letter=letter, actor=actor, reason=reason)
            except MigratorError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
                return
            count += 1
        self.message_user(request, f"{count} discarded")


# The admin's index links to the migration dashboard (live.dashboard).
admin.site.index_template = "live/admin_index.html"
