"""The move's own records in the admin: runs (read-only), the reject queue, the prune archive."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.utils.html import format_html, format_html_join

from catalog.models import Model
from migrator.aliases import AliasRefused, model_alias_set, rejects_map_to_model
from migrator.errors import MigratorError
from migrator.models import (
    BackfillRun,
    ExportEnvelope,
    InsertedRows,
    ModelAlias,
    PrunedRow,
    RejectedRecord,
    RowImage,
    ValidationRun,
)
from migrator.prune import pruned_rows_restore
from migrator.runs import backfill_runs_mark_interrupted


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
    list_display = (
        "id",
        "started_at",
        "finished_at",
        "outcome",
        "dry_run",
        "actor",
        "host",
        "pid",
        "totals",
    )
    list_filter = ("outcome", "dry_run")
    readonly_fields = (
        "started_at",
        "finished_at",
        "outcome",
        "dry_run",
        "actor",
        "host",
        "pid",
        "error",
        "arguments_json",
        "sources_json",
        "counts_json",
        "committed_batches_json",
        "state_token_json",
        "undoes",
        "undone",
        "changes",
    )
    exclude = ("arguments", "sources", "counts", "committed_batches", "state_token")

    CHANGES_SHOWN = 50

    @admin.display(description="undone by")
    def undone(self, run):
        later = BackfillRun.objects.filter(undoes=run).first()
        return f"run #{later.pk}" if later else "-"

    @admin.display(description="what the run changed (before → after)")
    def changes(self, run):
        """Per updated row, the columns whose value the run changed; inserted and pruned
        counts. ``backfill_json --undo RUN`` puts the before values back."""
        inserted = sum(InsertedRows.objects.filter(run=run).values_list("count", flat=True))
        images = RowImage.objects.filter(run=run).order_by("entity", "row_id")
        rows = []
        for image in images[: self.CHANGES_SHOWN]:
            for column in sorted(set(image.before) | set(image.after)):
                if column in ("updated_at", "source_hash"):
                    continue
                a, b = image.before.get(column), image.after.get(column)
                if a != b:
                    rows.append((image.entity, image.row_id, column, a, b))
        cells = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td>"
            "<td><code>{}</code></td></tr>",
            (
                (e, i, c, json.dumps(a, default=str), json.dumps(b, default=str))
                for e, i, c, a, b in rows
            ),
        )
        total = images.count()
        return format_html(
            "<p>{} row(s) inserted, {} updated ({} shown), {} pruned.</p>"
            "<table><tr><th>entity</th><th>row id</th><th>field</th><th>before</th>"
            "<th>after</th></tr>{}</table>",
            inserted,
            total,
            min(total, self.CHANGES_SHOWN),
            run.pruned_rows.count(),
            cells,
        )

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
    state_token_json = json_display(
        "state_token", "state token (what the next run compares to skip an unchanged export)"
    )

    def changelist_view(self, request, extra_context=None):
        # A run whose process was killed would show "running" forever.
        for run_id in backfill_runs_mark_interrupted():
            self.message_user(
                request,
                f"backfill run #{run_id} was interrupted (its process is gone); marked so",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)


class RejectActionForm(ActionForm):
    model_slug = forms.CharField(
        required=False, label="model slug", help_text="for “map to model…”"
    )


@admin.register(RejectedRecord)
class RejectedRecordAdmin(ReadOnlyAdmin):
    action_form = RejectActionForm
    actions = ["map_to_model"]
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

    def has_change_permission(self, request, obj=None):
        # The "map to model…" action needs it; the form itself has nothing editable.
        return request.user.is_superuser

    @admin.action(description="Map to model… (the slug typed beside the action)")
    def map_to_model(self, request, queryset):
        model_slug = request.POST.get("model_slug", "")
        try:
            keys = rejects_map_to_model(rejects=list(queryset), model_slug=model_slug)
        except AliasRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            f"{', '.join(keys)} now name(s) {model_slug.strip()}; run `backfill_json "
            "--retry-failed` to load the statuses.",
            messages.SUCCESS,
        )


class ModelAliasForm(forms.ModelForm):
    class Meta:
        model = ModelAlias
        fields = ("alias", "model_slug", "note")

    def clean_model_slug(self):
        slug = self.cleaned_data["model_slug"].strip()
        if not Model.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"no model has the slug {slug!r}")
        return slug


@admin.register(ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    """Other names status keys give models: editable, honoured by every later run."""

    form = ModelAliasForm
    list_display = ("alias", "model_slug", "note", "created_at")
    search_fields = ("alias", "model_slug")

    def save_model(self, request, obj, form, change):
        try:
            saved = model_alias_set(alias=obj.alias, model_slug=obj.model_slug, note=obj.note)
        except AliasRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        obj.pk = saved.pk


@admin.register(ExportEnvelope)
class ExportEnvelopeAdmin(ReadOnlyAdmin):
    list_display = ("kind", "sha256", "first_seen", "last_seen", "run")
    list_filter = ("kind",)
    readonly_fields = ("kind", "sha256", "first_seen", "last_seen", "run", "envelope_json")
    exclude = ("envelope", "merged")

    envelope_json = json_display("envelope")
    merged_json = json_display("merged", "records merged into another")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "merged_json")


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


@admin.register(RowImage)
class RowImageAdmin(ReadOnlyAdmin):
    """Rows backfill runs updated, before and after (``backfill_json --undo RUN`` uses them)."""

    list_display = ("run", "entity", "row_id")
    list_filter = ("entity",)
    search_fields = ("=run__id", "=row_id")
    list_select_related = ("run",)
    readonly_fields = ("run", "entity", "row_id", "before_json", "after_json")
    exclude = ("before", "after")

    before_json = json_display("before")
    after_json = json_display("after")
