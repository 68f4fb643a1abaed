"""What the move records about itself: backfill runs, rejected records, pruned rows."""

from django.db import models

from migrator.processes import current_host, current_pid


class Entity(models.TextChoices):
    PROVIDERS = "providers"
    MODELS = "models"
    STATUSES = "statuses"


class BackfillRun(models.Model):
    """One run of ``backfill_json`` (dry runs included): arguments, sources, counts, outcome."""

    class Outcome(models.TextChoices):
        RUNNING = "running"  # still running (or killed on another host: see pid, host)
        SUCCEEDED = "succeeded"
        REJECTED = "rejected", "completed with rejected records"
        FAILED = "failed"
        # Its process is gone without finishing (killed, crashed): see migrator.runs.
        INTERRUPTED = "interrupted"

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
    # The process that ran it: the next run (and the admin) tell whether it is gone. Nullable:
    # rows from before these columns (and rows inserted by the previous release during a
    # deploy) have none.
    pid = models.PositiveIntegerField(null=True, blank=True, default=current_pid)
    host = models.CharField(max_length=255, null=True, blank=True, default=current_host)  # noqa: DJ001
    # backfill_json --undo RUN: the run this one undid (and, on that run, undone_by is set).
    undoes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="undone_by"
    )
    # What a full, committed run found stored at its end (migrator.state_token): the next run
    # with the same export, code and options skips the pass when the database still holds it.
    state_token = models.JSONField(
        null=True, blank=True, help_text="export, pipeline, options and content digests"
    )

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


class RowImage(models.Model):
    """A row a backfill run updated: every column before and after, so that the run can be
    undone (``backfill_json --undo RUN``) and the admin can show what it changed."""

    run = models.ForeignKey(BackfillRun, on_delete=models.CASCADE, related_name="row_images")
    entity = models.CharField(max_length=16, choices=Entity.choices)
    row_id = models.BigIntegerField()
    before = models.JSONField(help_text="Every column of the row before the run wrote it.")
    after = models.JSONField(help_text="Every column as the run left it.")

    class Meta:
        ordering = ["run", "entity", "row_id"]
        indexes = [models.Index(fields=["run", "entity"], name="migrator_rowimage_run")]

    def __str__(self):
        return f"{self.entity} #{self.row_id} updated by run #{self.run_id}"


class InsertedRows(models.Model):
    """The ids of the rows one batch of a backfill run inserted, as ``[[first, last], ...]``
    ranges (a first load inserts consecutive ids: one range a batch, whatever its size)."""

    run = models.ForeignKey(BackfillRun, on_delete=models.CASCADE, related_name="inserted_rows")
    entity = models.CharField(max_length=16, choices=Entity.choices)
    id_ranges = models.JSONField()
    count = models.PositiveIntegerField()

    class Meta:
        ordering = ["run", "entity", "id"]
        verbose_name_plural = "inserted rows"

    def __str__(self):
        return f"{self.count} {self.entity} inserted by run #{self.run_id}"


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


class Backend(models.TextChoices):
    JSON = "json"
    DATABASE = "database"


class BackendState(models.Model):
    """The live choice of store, one row: every worker reads it (cached about a second).

    The environment (DATA_BACKEND, DUAL_WRITE) gives the values until the first change.
    """

    active = models.CharField(max_length=16, choices=Backend.choices)
    previous = models.CharField(max_length=16, choices=Backend.choices, blank=True, default="")
    dual_write = models.BooleanField(default=False)
    canary_enabled = models.BooleanField(default=False)
    canary_header = models.CharField(max_length=100, blank=True, default="X-Canary")
    canary_value = models.CharField(max_length=200, blank=True, default="canary=true")
    canary_percent = models.FloatField(default=0.0)
    shadow_enabled = models.BooleanField(default=False)
    shadow_sample = models.FloatField(default=0.0, help_text="Percent of reads compared.")
    auto_rollback = models.BooleanField(default=False)
    thresholds = models.JSONField(default=dict, blank=True)
    # Every write (API, admin, services) answers 503 while on; reads go on.
    maintenance = models.BooleanField(default=False)
    # The DATA_BACKEND_OVERRIDE value the workers last saw ("" none): audited once per change.
    override_seen = models.CharField(max_length=16, blank=True, default="")
    version = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "backend state"
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="migrator_state_single_row"),
            models.CheckConstraint(
                condition=models.Q(canary_percent__gte=0, canary_percent__lte=100),
                name="migrator_state_canary_percent",
            ),
        ]

    def __str__(self):
        return f"reads from {self.active} (version {self.version})"


class AuditEntry(models.Model):
    """Every change of the backend state: who, when, why, from what, to what. Append-only."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    reason = models.TextField()
    forced = models.BooleanField(default=False)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"


class DeadLetter(models.Model):
    """A queued write that its store refused again and again: set aside so that later writes
    flow past it, kept with the error until an operator retries or discards it (audited)."""

    class Resolution(models.TextChoices):
        RETRIED = "retried", "retried and applied"
        DISCARDED = "discarded"

    store = models.CharField(
        max_length=16, choices=Backend.choices, help_text="Where it was going."
    )
    operation = models.JSONField(help_text="The write, in the export's terms.")
    error = models.TextField(help_text="What the store said the last time.")
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True, default="")
    resolution_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-dead_at", "-id"]
        indexes = [models.Index(fields=["resolution"], name="migrator_deadletter_resolution")]

    def __str__(self):
        return f"dead letter for {self.store} from {self.dead_at:%Y-%m-%d %H:%M:%S}"


class TrafficBucket(models.Model):
    """One worker's counts of the reads one store served in one minute (live.counters).

    Each worker owns its rows and writes its running totals (an upsert), so that readers sum
    the rows of every worker and every instance for the whole service's traffic.
    """

    minute = models.DateTimeField(help_text="Start of the minute (UTC).")
    worker = models.CharField(max_length=64, help_text="host:pid:start token")
    store = models.CharField(max_length=16)
    endpoint = models.CharField(max_length=64)
    requests = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0, help_text="The store failed.")
    seconds = models.FloatField(default=0.0, help_text="Sum of whole-response times.")
    latency = models.JSONField(default=list, help_text="Histogram counts (live.counters.BOUNDS).")
    statuses = models.JSONField(default=dict, help_text="Responses by HTTP status.")
    fallbacks = models.JSONField(default=dict, help_text="'from->to:category': count")
    mismatches = models.PositiveBigIntegerField(default=0, help_text="Shadow mismatches.")
    # Database defaults too: the previous release's workers, still flushing while the new
    # release's migration runs, insert rows without these columns.
    store_latency = models.JSONField(
        default=list,
        db_default=models.Value([], output_field=models.JSONField()),
        help_text="Histogram of the store calls' times (live.counters.BOUNDS).",
    )
    store_seconds = models.FloatField(
        default=0.0, db_default=0.0, help_text="Sum of the store calls' times."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["minute", "worker", "store", "endpoint"], name="migrator_traffic_key"
            ),
        ]
        indexes = [models.Index(fields=["minute", "store"], name="migrator_traffic_minute")]

    def __str__(self):
        return f"{self.store} {self.endpoint} {self.minute:%H:%M} ({self.worker})"


class TrafficTotal(models.Model):
    """The traffic of one store and endpoint from the start up to ``TrafficTotal.through`` (the
    folded minutes of TrafficBucket), so that totals never go down when old buckets are deleted.

    The row with empty store and endpoint is the mark: its ``through`` is the first minute not
    yet folded, and locking it serializes the folds (live.counters.fold).
    """

    store = models.CharField(max_length=16, blank=True)
    endpoint = models.CharField(max_length=64, blank=True)
    through = models.DateTimeField(null=True, blank=True, help_text="The mark row only.")
    requests = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    latency = models.JSONField(default=list)
    store_seconds = models.FloatField(default=0.0)
    store_latency = models.JSONField(default=list)
    statuses = models.JSONField(default=dict)
    fallbacks = models.JSONField(default=dict)
    mismatches = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "endpoint"], name="migrator_traffic_total_key")
        ]

    def __str__(self):
        return f"{self.store or 'mark'} {self.endpoint}"


class TargetBreach(models.Model):
    """A service target (live.targets) crossed now; the row exists while it stays crossed, so
    the alert is logged once per crossing by whichever worker creates it."""

    name = models.CharField(max_length=64, unique=True, help_text="store:measure:window")
    since = models.DateTimeField()
    value = models.FloatField()
    limit = models.FloatField()
    message = models.TextField()

    def __str__(self):
        return self.name


class PendingWrite(models.Model):
    """A write the secondary store missed, kept until it is replayed there."""

    created_at = models.DateTimeField(db_index=True)
    store = models.CharField(max_length=16, choices=Backend.choices, help_text="Where it goes.")
    operation = models.JSONField(help_text="The write, in the export's terms.")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"pending write to {self.store} from {self.created_at:%Y-%m-%d %H:%M:%S}"


class StoreWriteStats(models.Model):
    """Writes attempted and succeeded per store (counted by every worker)."""

    store = models.CharField(max_length=16, choices=Backend.choices, primary_key=True)
    attempted = models.PositiveBigIntegerField(default=0)
    succeeded = models.PositiveBigIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "store write stats"

    def __str__(self):
        return f"{self.store}: {self.succeeded}/{self.attempted}"


class ShadowMismatch(models.Model):
    """A read answered differently by the two stores (a capped list of examples)."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    path = models.CharField(max_length=2048)
    serving = models.CharField(max_length=16, choices=Backend.choices)
    difference = models.TextField()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "shadow mismatches"

    def __str__(self):
        return f"{self.path} ({self.at:%H:%M:%S})"


class ShadowStats(models.Model):
    """Shadow reads compared and mismatched since shadowing was last turned on (one row)."""

    compared = models.PositiveBigIntegerField(default=0)
    mismatched = models.PositiveBigIntegerField(default=0)
    since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "shadow stats"
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="migrator_shadow_single_row"),
        ]

    def __str__(self):
        return f"{self.mismatched}/{self.compared} mismatched"


class ModelAlias(models.Model):
    """Another name a status key may give a model (an older slug, another exporter's name):
    model-status.json's key ``alias`` means the model whose slug is ``model_slug``."""

    alias = models.CharField(max_length=512, unique=True)
    model_slug = models.CharField(max_length=255, help_text="The slug of the model it names.")
    note = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["alias"]
        verbose_name_plural = "model aliases"

    def __str__(self):
        return f"{self.alias} → {self.model_slug}"


class ExportEnvelope(models.Model):
    """The fields of an export file around its records (models.json's ``metadata``,
    ``statistics``, ``typeStatistics``, ``providers``; model-status.json's ``version``,
    ``lastUpdated``), kept once per distinct file (by SHA-256), with the records merged into
    others (duplicates of one model) so that nothing the export holds is absent."""

    kind = models.CharField(max_length=16, choices=Entity.choices)
    sha256 = models.CharField(max_length=64)
    envelope = models.JSONField(default=dict, blank=True)
    merged = models.JSONField(
        default=list, blank=True, help_text="Records merged into another: position, record."
    )
    run = models.ForeignKey(
        BackfillRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "sha256"], name="migrator_envelope_kind_sha")
        ]

    def __str__(self):
        return f"{self.kind} envelope {self.sha256[:12]}"
