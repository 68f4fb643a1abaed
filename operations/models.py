"""What the operations app records: each `migrate` run, and each schema check."""

from django.db import models


class MigrationRun(models.Model):
    """One run of ``manage.py migrate``: who, when, the plan, each migration applied or unapplied
    with its duration, the outcome and the error."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField()
    seconds = models.FloatField(default=0.0)
    actor = models.CharField(max_length=150, blank=True, default="")
    host = models.CharField(max_length=255, blank=True, default="")
    database = models.CharField(max_length=255, blank=True, default="", help_text="vendor, name")
    arguments = models.JSONField(default=dict, blank=True)
    plan = models.JSONField(default=list, blank=True, help_text="[migration, direction] in order")
    steps = models.JSONField(
        default=list, blank=True, help_text="each migration run: direction, seconds, outcome"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"

    def __str__(self):
        return f"migrate #{self.pk} ({self.outcome}, {len(self.steps)} step(s))"


class SchemaCheck(models.Model):
    """One run of ``check_schema``: whether the database matched what its migrations produce."""

    checked_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150, blank=True, default="")
    matches = models.BooleanField()
    differences = models.JSONField(default=list, blank=True)
    pending = models.JSONField(default=list, blank=True, help_text="migrations not applied yet")

    class Meta:
        ordering = ["-checked_at", "-id"]
        get_latest_by = "checked_at"

    def __str__(self):
        state = "matches" if self.matches else f"{len(self.differences)} difference(s)"
        return f"schema check #{self.pk} ({state})"
