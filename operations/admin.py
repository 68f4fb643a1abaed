"""The migration log and the schema checks in the admin: read-only records of what happened."""

from django.contrib import admin

from migrator.admin import ReadOnlyAdmin, json_display
from operations.models import MigrationRun, SchemaCheck


@admin.register(MigrationRun)
class MigrationRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "started_at", "outcome", "summary", "seconds", "actor", "host")
    list_filter = ("outcome",)
    readonly_fields = (
        "started_at",
        "finished_at",
        "seconds",
        "outcome",
        "error",
        "actor",
        "host",
        "database",
        "arguments_json",
        "plan_json",
        "steps_json",
    )
    exclude = ("arguments", "plan", "steps")
    arguments_json = json_display("arguments")
    plan_json = json_display("plan")
    steps_json = json_display("steps", "steps (each migration: direction, seconds, outcome)")

    @admin.display(description="migrations")
    def summary(self, run):
        done = {"apply": 0, "unapply": 0}
        failed = ""
        for step in run.steps:
            if step["outcome"] == "failed":
                failed = f"; FAILED: {step['migration']}"
            else:
                done[step["direction"]] += 1
        if not run.steps:
            return "nothing to apply"
        return f"{done['apply']} applied, {done['unapply']} unapplied{failed}"


@admin.register(SchemaCheck)
class SchemaCheckAdmin(ReadOnlyAdmin):
    list_display = ("id", "checked_at", "matches", "difference_count", "actor")
    list_filter = ("matches",)
    readonly_fields = ("checked_at", "matches", "actor", "differences_json", "pending_json")
    exclude = ("differences", "pending")
    differences_json = json_display("differences")
    pending_json = json_display("pending", "migrations not applied yet")

    @admin.display(description="differences")
    def difference_count(self, check):
        return len(check.differences)
