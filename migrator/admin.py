"""The move's own records in the admin: runs (read-only), the reject queue, the prune archive."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from migrator.errors import MigratorError
from migrator.models import (
    AuditEntry,
    BackendState,
    BackfillRun,
    PendingWrite,
    PrunedRow,
    RejectedRecord,
    ShadowMismatch,
    StoreWriteStats,
    ValidationRun,
)
from migrator.services import pruned_rows_restore


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: shown, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


def json_display(field: str, description: str | None = None):
    """A read-only admin field showing the JSON in ``field``, indented."""

    @admin.display(description=description or field.replace("_", " "))
    def display(self, obj):
        return pretty_json(getattr(obj, field))

    return display


@admin.register(BackfillRun)
class BackfillRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "started_at", "finished_at", "outcome", "dry_run", "actor", "totals")
    list_filter = ("outcome", "dry_run")
    readonly_fields = (
        "started_at",
        "finished_at",
        "outcome",
        "dry_run",
        "actor",
        "error",
        "arguments_json",
        "sources_json",
        "counts_json",
        "committed_batches_json",
    )
    exclude = ("arguments", "sources", "counts", "committed_batches")

    @admin.display(description="read / inserted / updated / rejected")
    def totals(self, run):
        sums = [
            sum(c.get(k, 0) for c in run.counts.values())
            for k in ("read", "inserted", "updated", "rejected")
        ]
        return " / ".join(map(str, sums))

    arguments_json = json_display("arguments")
    sources_json = json_display("sources")
    counts_json = json_display("counts")
    committed_batches_json = json_display("committed_batches")


@admin.register(RejectedRecord)
class RejectedRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "entity",
        "record_key",
        "file",
        "position",
        "field",
        "reason",
        "attempts",
        "last_seen",
    )
    list_filter = ("entity", "file", "field")
    search_fields = ("record_key", "reason")
    list_select_related = ("last_run",)
    readonly_fields = (
        "entity",
        "record_key",
        "file",
        "location",
        "position",
        "field",
        "reason",
        "raw_json",
        "context",
        "attempts",
        "first_run",
        "last_run",
        "first_seen",
        "last_seen",
    )
    exclude = ("raw",)
    show_full_result_count = False

    raw_json = json_display("raw", "record as the export holds it")

    def has_delete_permission(self, request, obj=None):
        # Dropping a reject on purpose (it will never load) is an operator's decision.
        return request.user.is_superuser


@admin.register(PrunedRow)
class PrunedRowAdmin(ReadOnlyAdmin):
    list_display = ("entity", "natural_key", "run", "pruned_at", "restored_at")
    list_filter = ("entity", ("restored_at", admin.EmptyFieldListFilter))
    search_fields = ("natural_key",)
    list_select_related = ("run",)
    readonly_fields = ("entity", "natural_key", "run", "pruned_at", "restored_at", "row_json")
    exclude = ("row",)
    actions = ["restore"]

    row_json = json_display("row")

    @admin.action(description="Restore the selected rows (undo the prune)")
    def restore(self, request, queryset):
        try:
            restored = pruned_rows_restore(pruned_rows=list(queryset.order_by("pk")))
        except MigratorError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"{restored} row(s) restored.", messages.SUCCESS)

    def has_change_permission(self, request, obj=None):
        # The restore action needs it; the form itself has nothing editable.
        return request.user.is_superuser


@admin.register(ValidationRun)
class ValidationRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "started_at", "passed", "complete", "actor", "difference_count")
    list_filter = ("passed", "complete")
    readonly_fields = (
        "started_at",
        "finished_at",
        "passed",
        "complete",
        "actor",
        "error",
        "arguments_json",
        "sources_json",
        "counts_json",
        "differences_json",
        "warnings_json",
    )
    exclude = ("arguments", "sources", "counts", "differences", "warnings")

    @admin.display(description="differences")
    def difference_count(self, run):
        return sum(
            c.get("missing", 0) + c.get("extra", 0) + c.get("changed", 0) + c.get("orphans", 0)
            for c in run.counts.values()
        )

    arguments_json = json_display("arguments")
    sources_json = json_display("sources")
    counts_json = json_display("counts")
    differences_json = json_display("differences", "first differences")
    warnings_json = json_display("warnings")


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
