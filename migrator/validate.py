"""validate_migration's work: prove the database holds what the export holds, or show where not.

The export goes through the same acceptance pipeline as backfill_json, and each batch of accepted
records through the same staging table: the database matches it with the stored rows by natural
key and compares every stored column with the export's value as it is stored now (migrator.tables),
so a row changed behind the app's back is found, whoever changed it. Rows that differ are then
compared field by field in Python for the report (and a difference of spelling only, such as JSON
key order in SQLite, is no difference). Rows the export does not hold are found by one anti-join.
A record the pipeline rejects is excused when the reject queue holds it, else it is missing.
"""

from __future__ import annotations

import logging
import time

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from catalog.models import Model, ModelStatus, Provider
from config.database import mask_url
from migrator import batches, mapping, source, tables
from migrator.equality import values_equal
from migrator.models import Entity, RejectedRecord, ValidationRun
from migrator.pipeline import Acceptance
from migrator.runs import operator_name
from migrator.validation_report import (
    BATCH_SIZE,
    ENTITIES,
    Difference,
    EntityResult,
    Options,
    Report,
)

logger = logging.getLogger(__name__)

DIFFERENCE_CAP = 100_000
COUNTERS = {"missing": "missing", "extra": "extra", "changed": "changed", "orphan": "orphans"}
MAX_WARNING_EXAMPLES = 50


class Validation:
    def __init__(self, options: Options):
        self.options = options
        self.results = {entity: EntityResult(entity) for entity in ENTITIES}
        self.differences: list[Difference] = []
        self.difference_count = 0
        self.integrity: dict[str, int] = {}
        self.warnings: dict[str, int] = {}
        self.warning_examples: list[str] = []
        self.files: list[source.ExportFile] = []
        self.now = timezone.now()
        self.run_record: ValidationRun | None = None
        self.staging = tables.Staging()

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> Report:
        options = self.options
        files = source.resolve(list(options.sources))
        self.files = [files[kind] for kind in source.KINDS if kind in files]
        self.run_record = ValidationRun.objects.create(
            actor=operator_name(options.actor),
            arguments={
                "sources": [mask_url(s) for s in options.sources],
                "entities": sorted(options.entities),
                "strict": options.strict,
                "float_tolerance": options.float_tolerance,
            },
        )
        self.rejects = {
            (r.entity, r.position): r
            for r in RejectedRecord.objects.only("entity", "position", "record_key", "reason")
        }
        try:
            # Staging tables only: nothing of the catalog is written, and all of it goes away.
            with transaction.atomic():
                tables.keyed_lookups()
                self._compare(files)
                self._check_integrity()
                transaction.set_rollback(True)
        except Exception as exc:
            self.run_record.error = str(exc)
            logger.error("event=validation_failed run=%s error=%r", self.run_record.pk, str(exc))
            self.run_record.finished_at = timezone.now()
            self.run_record.sources = [f.describe() for f in self.files]
            self.run_record.save()
            raise
        finally:
            for table in tables.TABLES.values():
                tables.drop(table)
        return self._finish(files)

    def _compare(self, files):
        wanted = self.options.entities
        for table in tables.TABLES.values():
            tables.prepare(table)
        acceptance = Acceptance.for_export(files, now=self.now)
        if "providers" in files:
            check = Entity.PROVIDERS in wanted
            self._timed(
                Entity.PROVIDERS,
                lambda: self._providers(files["providers"], acceptance, check),
            )
        if "models" in files:
            self._timed(Entity.MODELS, lambda: self._models(files["models"], acceptance))
        if Entity.STATUSES in wanted and ("statuses" in files or "models" in files):
            # Without model-status.json, the models' own statuses (models.json) are checked.
            self._timed(Entity.STATUSES, lambda: self._statuses(files.get("statuses"), acceptance))
        tables.keyed_lookups(on=False)
        for entity in ENTITIES:
            # Without model-status.json only the models' own statuses were checked: the
            # database's other statuses are not "extra" (as backfill does not prune them).
            whole = entity != Entity.STATUSES or "statuses" in files
            if self.results[entity].checked and whole:
                self._timed(entity, lambda e=entity: self._extras(e))

    def _timed(self, entity, work):
        started = time.perf_counter()
        try:
            work()
        finally:
            self.results[entity].seconds += time.perf_counter() - started

    def _finish(self, files) -> Report:
        options = self.options
        complete = options.entities == frozenset(ENTITIES) and set(files) == set(source.KINDS)
        known = [
            {"entity": r.entity, "key": r.record_key, "position": r.position, "reason": r.reason}
            for r in sorted(self.rejects.values(), key=lambda r: (r.entity, r.record_key))
            if r.entity in options.entities
        ]
        passed = self.difference_count == 0
        run = self.run_record
        run.finished_at = timezone.now()
        run.passed = passed
        run.complete = complete
        run.sources = [f.describe() for f in self.files]
        run.counts = {e: r.as_dict(strict=options.strict) for e, r in self.results.items()}
        run.differences = [d.as_dict() for d in self.differences[: max(options.limit, 100)]]
        run.warnings = self.warnings
        run.save()
        logger.info(
            "event=validation_finished run=%s passed=%s complete=%s differences=%s sources=%s",
            run.pk,
            passed,
            complete,
            self.difference_count,
            ",".join(f.shown for f in self.files),
        )
        return Report(
            run=run,
            options=options,
            files=self.files,
            entities=self.results,
            differences=self.differences,
            difference_count=self.difference_count,
            integrity=self.integrity,
            warnings=self.warnings,
            warning_examples=self.warning_examples,
            known_rejects=known,
        )

    # --- differences --------------------------------------------------------------------------

    def _differ(self, kind, entity, key, changes=(), detail=""):
        counter = COUNTERS[kind]
        result = self.results[entity]
        setattr(result, counter, getattr(result, counter) + 1)
        self._record(Difference(kind, entity, key, list(changes), detail))

    def _record(self, difference: Difference):
        self.difference_count += 1
        if len(self.differences) < DIFFERENCE_CAP:
            self.differences.append(difference)

    def _rejected(self, reject):
        """A record the pipeline rejects: excused when the reject queue holds it (listed apart,
        not a difference unless --strict), else missing."""
        entity = reject.entity
        if (entity, reject.position) not in self.rejects:
            self._differ(
                "missing",
                entity,
                reject.position,
                detail=f"invalid record: {reject.reason}, and not in the reject queue",
            )
            return
        self.results[entity].excused += 1
        if self.options.strict:
            queued = self.rejects[(entity, reject.position)]
            self._record(Difference("rejected", entity, queued.record_key, detail=queued.reason))

    def _changes(self, entity, expected: dict, actual: dict) -> list:
        return changes_between(entity, expected, actual, tolerance=self.options.float_tolerance)

    def _warned(self, batch):
        if batch.warnings:
            for kind, count in batch.warning_kinds.items():
                self.warnings[kind] = self.warnings.get(kind, 0) + count
            room = MAX_WARNING_EXAMPLES - len(self.warning_examples)
            self.warning_examples += batch.warning_examples[: max(room, 0)]

    # --- the passes ---------------------------------------------------------------------------

    def _batcher(self, entity, **kwargs) -> batches.Batcher:
        columns = tables.TABLES[entity].columns
        return batches.Batcher(BATCH_SIZE, tables.ready_converter(columns), **kwargs)

    def _providers(self, export_file, acceptance, check: bool):
        items = acceptance.providers_from(source.iter_records(export_file))
        for batch in batches.inline_batches(
            items, self._batcher(Entity.PROVIDERS, keep_items=True)
        ):
            if check:
                self._check(tables.PROVIDERS, batch)

    def _models(self, export_file, acceptance):
        wanted = self.options.entities
        providers = self._batcher(Entity.PROVIDERS, keep_items=True)
        models = self._batcher(Entity.MODELS, keep_items=True)
        items = acceptance.models_from(source.iter_records(export_file), export_file=export_file)
        for provider_batch, model_batch in batches.model_batches(items, providers, models):
            if Entity.PROVIDERS in wanted:
                self._check(tables.PROVIDERS, provider_batch)
            if Entity.MODELS in wanted:
                self._check(tables.MODELS, model_batch)
        if Entity.MODELS in wanted:
            for kind, text in acceptance.file_warnings:
                self.warnings[kind] = self.warnings.get(kind, 0) + 1
                if len(self.warning_examples) < MAX_WARNING_EXAMPLES:
                    self.warning_examples.append(text)

    def _statuses(self, export_file, acceptance):
        batcher = self._batcher(Entity.STATUSES, keep_items=False)
        work = batches.status_batches(export_file, acceptance, batcher)
        for batch in batches.in_child(work, export_file, name="validate-reader"):
            self._check(tables.STATUSES, batch)

    # --- one batch ----------------------------------------------------------------------------

    def _check(self, table, batch: batches.Batch):
        entity = table.entity
        result = self.results[entity]
        result.checked = True
        result.in_export += batch.read
        result.merged += batch.merged
        self._warned(batch)
        for reject in batch.rejects:
            self._rejected(reject)
        if not batch.rows:
            return
        self.staging.load(table, batch.rows)
        by_pos = {row[0]: row for row in batch.rows}
        differing = []
        for pos, parent_id, row_id, differs in tables.classify(
            table, tolerance=self.options.float_tolerance
        ):
            key = _key(table, by_pos[pos], batch)
            if table.parent is not None and parent_id is None:
                what = "model" if table is tables.STATUSES else "provider"
                self._differ(
                    "orphan" if table is tables.STATUSES else "missing",
                    entity,
                    key,
                    detail=f"its {what} {by_pos[pos][1]!r} is not in the database",
                )
            elif row_id is None:
                self._differ("missing", entity, key)
            elif differs:
                differing.append(pos)
            else:
                result.matched += 1
        if differing:
            pairs = tables.staged_and_stored(table, differing)
            for pos in differing:
                expected, actual = pairs[pos]
                changes = self._changes(entity, expected, actual)
                if changes:
                    self._differ("changed", entity, _key(table, by_pos[pos], batch), changes)
                else:
                    result.matched += 1
        tables.mark_seen(table)

    def _extras(self, entity):
        table = tables.TABLES[entity]
        result = self.results[entity]
        result.in_database = tables.count(table)
        for _row_id, key in tables.unseen(table):
            self._differ("extra", entity, key)

    # --- integrity ----------------------------------------------------------------------------

    def _check_integrity(self):
        """The checks an operator would run by hand in SQL; any finding is a difference."""
        checks = integrity_checks()
        self.integrity = checks
        for name, found in checks.items():
            if found:
                self._record(Difference("integrity", "database", name, detail=f"{found} found"))


_ABSENT = object()


def changes_between(entity, expected: dict, actual: dict, *, tolerance: float = 0.0) -> list:
    """``(field, expected, actual)`` for each column (and metadata key) whose values differ."""
    changes = [
        (mapping.export_name(entity, column), expected[column], actual[column])
        for column in expected
        if column != "metadata"
        and not values_equal(expected[column], actual[column], tolerance=tolerance)
    ]
    theirs, ours = expected["metadata"], actual["metadata"]
    if type(theirs) is not dict or type(ours) is not dict:
        # Not an object (a list or a NULL written in SQL): the whole field differs. An empty
        # list is not "no keys".
        if not values_equal(theirs, ours, tolerance=tolerance):
            changes.append(("metadata", _shown(theirs), _shown(ours)))
        return changes
    for key in sorted(set(theirs) | set(ours)):
        a, b = theirs.get(key, _ABSENT), ours.get(key, _ABSENT)
        if not values_equal(a, b, tolerance=tolerance):
            changes.append((f"metadata.{key}", _shown(a), _shown(b)))
    return changes


def integrity_checks(using: str = "default") -> dict[str, int]:
    """The checks an operator would run by hand in SQL, on the database ``using``: findings."""
    providers = Provider.objects.using(using)
    models = Model.objects.using(using)
    statuses = ModelStatus.objects.using(using)
    return {
        "models whose provider is missing": models.exclude(
            provider_id__in=providers.values("id")
        ).count(),
        "statuses whose model is missing": statuses.exclude(
            model_id__in=models.values("id")
        ).count(),
        "duplicate provider slugs": _duplicates(providers, "slug"),
        "duplicate model slugs": _duplicates(models, "slug"),
        "duplicate statuses (model, region)": _duplicates(statuses, "model_id", "region"),
        "empty required values": (
            providers.filter(Q(slug="") | Q(name="")).count()
            + models.filter(Q(slug="") | Q(name="")).count()
            + statuses.filter(region="").count()
        ),
    }


def _shown(value):
    return "(absent)" if value is _ABSENT else value


def _key(table, row, batch) -> str:
    """A staged record's natural key as the report names it."""
    if table is tables.STATUSES:
        return f"{row[1]}@{row[2]}"
    item = batch.accepted.get(row[0])
    return item.key if item is not None else str(row[2])


def _duplicates(queryset, *fields) -> int:
    return queryset.values(*fields).annotate(n=Count("id")).filter(n__gt=1).order_by().count()
