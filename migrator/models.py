"""What the move records about itself: backfill runs, rejected records, pruned rows."""

from django.db import models


class Entity(models.TextChoices):
    PROVIDERS = "providers"
    MODELS = "models"
    STATUSES = "statuses"


class BackfillRun(models.Model):
    """One run of ``backfill_json`` (dry runs included): arguments, sources, counts, outcome."""

    class Outcome(models.TextChoices):
        RUNNING = "running"  # still running, or killed before it could say otherwise
        SUCCEEDED = "succeeded"
        REJECTED = "rejected", "completed with rejected records"
        FAILED = "failed"

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    dry_run = models.BooleanField(default=False)
    actor = models.CharField(max_length=150, blank=True, default="")
    arguments = models.JSONField(default=dict, blank=True)
    sources = models.JSONField(default=list, blank=True, help_text="file, location, size, sha256")
    counts = models.JSONField(default=dict, blank=True, help_text="per entity")
    committed_batches = models.JSONField(default=dict, blank=True, help_text="per file")
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"

    def __str__(self):
        kind = "dry run" if self.dry_run else "run"
        return f"backfill {kind} #{self.pk} ({self.outcome})"


class RejectedRecord(models.Model):
    """A source record that could not be loaded, kept with its reason until a retry loads it."""

    entity = models.CharField(max_length=16, choices=Entity.choices)
    record_key = models.CharField(
        max_length=512, help_text="Natural key where the record has one, else its position."
    )
    file = models.CharField(max_length=64)
    location = models.CharField(max_length=2048, blank=True, default="")
    position = models.CharField(max_length=512, blank=True, default="")
    field = models.CharField(max_length=64, blank=True, default="")
    reason = models.TextField()
    raw = models.JSONField(null=True, blank=True, help_text="The record as the export holds it.")
    context = models.JSONField(default=dict, blank=True, help_text="What a replay needs.")
    attempts = models.PositiveIntegerField(default=1)
    first_run = models.ForeignKey(
        BackfillRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_run = models.ForeignKey(
        BackfillRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="rejects"
    )
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["entity", "record_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "record_key"], name="migrator_reject_entity_key"
            ),
        ]

    def __str__(self):
        return f"{self.entity} {self.record_key}: {self.reason}"


class PrunedRow(models.Model):
    """A row ``backfill_json --prune`` deleted, archived whole so that the prune can be undone."""

    run = models.ForeignKey(BackfillRun, on_delete=models.PROTECT, related_name="pruned_rows")
    entity = models.CharField(max_length=16, choices=Entity.choices)
    natural_key = models.CharField(max_length=512)
    row = models.JSONField(help_text="Every column of the deleted row.")
    pruned_at = models.DateTimeField(auto_now_add=True)
    restored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pruned_at", "entity", "natural_key"]
        indexes = [models.Index(fields=["entity", "natural_key"], name="migrator_pruned_key")]

    def __str__(self):
        return f"pruned {self.entity} {self.natural_key}"


class ValidationRun(models.Model):
    """One run of ``validate_migration``: what was compared, the outcome, the first differences.

    ``switch_backend switch database`` requires a passed, complete run whose checksums match the
    export as it is now.
    """

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    passed = models.BooleanField(null=True, help_text="Empty while running or after an error.")
    actor = models.CharField(max_length=150, blank=True, default="")
    arguments = models.JSONField(default=dict, blank=True)
    sources = models.JSONField(default=list, blank=True, help_text="file, location, size, sha256")
    complete = models.BooleanField(
        default=False, help_text="Every entity, every row (no --entity, no --sample)."
    )
    counts = models.JSONField(default=dict, blank=True, help_text="per entity")
    differences = models.JSONField(default=list, blank=True, help_text="the first differences")
    warnings = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"

    def __str__(self):
        state = {True: "passed", False: "failed", None: "no result"}[self.passed]
        return f"validation #{self.pk} ({state})"
