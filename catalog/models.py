"""The catalog: AI providers, their models and each model's live status per region.

Columns follow the export format of DESIGN.md. Every source field without a column of its own is
kept in ``metadata``; ``source_id`` is the export's own id. Optional text fields are nullable on
purpose: the export tells ``null`` from ``""`` and the database keeps that difference.
"""

from django.db import models
from django.db.models import Q

from catalog.lookups import HasElement  # noqa: F401  (registers JSONField __has_element)


class Timestamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # No longer read or written (the loader and the validator compare stored values now). Kept
    # for one release, so that workers of the previous release can still write it during a
    # rolling deploy; a later migration drops it.
    source_hash = models.CharField(max_length=32, blank=True, default="", editable=False)

    class Meta:
        abstract = True


class Provider(Timestamped):
    slug = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=255)
    source_id = models.CharField(
        max_length=255, blank=True, default="", help_text="The id this row has in the export."
    )
    logo_url = models.URLField(max_length=2048, null=True, blank=True)
    website_url = models.URLField(max_length=2048, null=True, blank=True)
    status_page_url = models.URLField(max_length=2048, null=True, blank=True)
    documentation_url = models.URLField(max_length=2048, null=True, blank=True)
    regions = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(
        default=dict, blank=True, help_text="Source fields that have no column of their own."
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.name


class Model(Timestamped):
    """An AI model offered by a provider (the export's ``models.json`` records)."""

    # No index of its own: the (provider, name) index serves lookups by provider.
    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="models", db_index=False
    )
    slug = models.CharField(
        max_length=255, unique=True, help_text="<provider slug>-<name>, as DESIGN.md derives it."
    )
    name = models.CharField(max_length=255)
    source_id = models.CharField(max_length=255, blank=True, default="")
    description = models.TextField(null=True, blank=True)
    foundation_model = models.CharField(max_length=255, null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    deprecated_at = models.DateTimeField(null=True, blank=True)
    modalities = models.JSONField(default=list, blank=True)
    capabilities = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    context_window = models.PositiveIntegerField(null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    input_price = models.DecimalField(max_digits=16, decimal_places=8, null=True, blank=True)
    output_price = models.DecimalField(max_digits=16, decimal_places=8, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_featured = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "AI model"
        indexes = [
            models.Index(fields=["is_active"], name="catalog_model_is_active"),
            models.Index(fields=["provider", "name"], name="catalog_model_provider_name"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(input_price__isnull=True) | Q(input_price__gte=0),
                name="catalog_model_input_price_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(output_price__isnull=True) | Q(output_price__gte=0),
                name="catalog_model_output_price_gte_0",
            ),
        ]

    def __str__(self):
        return self.name


class Status(models.TextChoices):
    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    OUTAGE = "outage"
    UNKNOWN = "unknown"


# How bad a status is: a model's headline status is its worst region's.
STATUS_SEVERITY = {
    Status.OUTAGE: 3,
    Status.DEGRADED: 2,
    Status.UNKNOWN: 1,
    Status.OPERATIONAL: 0,
}

GLOBAL_REGION = "global"


class StatusOrigin(models.TextChoices):
    """Which file of the export a status row comes from."""

    STATUS_FILE = "status_file", "model-status.json"
    # The model's own headline status in models.json, for a model model-status.json has none for.
    MODELS_FILE = "models_file", "models.json (the model's own status)"


class ModelStatus(Timestamped):
    """The live status of one model in one region (the export's ``model-status.json``)."""

    # No index of its own: the unique (model, region) index serves lookups by model.
    model = models.ForeignKey(
        Model, on_delete=models.CASCADE, related_name="statuses", db_index=False
    )
    region = models.CharField(max_length=64, default=GLOBAL_REGION)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN)
    availability = models.FloatField(null=True, blank=True, help_text="Percent, 0 to 100.")
    latency_p50 = models.FloatField(null=True, blank=True, help_text="Milliseconds.")
    latency_p95 = models.FloatField(null=True, blank=True)
    latency_p99 = models.FloatField(null=True, blank=True)
    error_rate = models.FloatField(null=True, blank=True)
    requests_per_min = models.PositiveBigIntegerField(null=True, blank=True)
    tokens_per_min = models.PositiveBigIntegerField(null=True, blank=True)
    usage = models.FloatField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # A database default too: workers of the previous release insert rows without it.
    origin = models.CharField(
        max_length=16,
        choices=StatusOrigin.choices,
        default=StatusOrigin.STATUS_FILE,
        db_default=StatusOrigin.STATUS_FILE,
    )

    class Meta:
        verbose_name = "model status"
        verbose_name_plural = "model statuses"
        constraints = [
            models.UniqueConstraint(fields=["model", "region"], name="catalog_status_model_region"),
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="catalog_status_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(availability__isnull=True)
                | Q(availability__gte=0, availability__lte=100),
                name="catalog_status_availability_0_100",
            ),
            models.CheckConstraint(
                condition=Q(error_rate__isnull=True) | Q(error_rate__gte=0),
                name="catalog_status_error_rate_gte_0",
            ),
        ]
        indexes = [
            # Serves the admin's filter by status and the API's headline-status filter, which
            # asks per model "is there a status with this value?" (one index probe per model).
            models.Index(fields=["status", "model"], name="catalog_status_status_model"),
            models.Index(fields=["checked_at"], name="catalog_status_checked_at"),
            # The admin's search by region.
            models.Index(fields=["region"], name="catalog_status_region"),
        ]

    def __str__(self):
        return f"{self.model.slug} @ {self.region}"


class CatalogVersion(models.Model):
    """One row whose ``version`` rises with every committed change to the catalog's tables.

    Database triggers raise it (migration 0002), so that writes made by any code path, by hand in
    SQL or by a data migration are all seen; a response cache keyed by it is never stale once a
    write has committed (catalog/response_cache.py). The value is at least the commit's time in
    microseconds, so it never goes back, even after a restore from an older backup.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="catalog_version_one_row")]

    def __str__(self):
        return f"catalog version {self.version}"
