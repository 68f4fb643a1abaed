"""validate_migration's work: prove the database holds what the export holds, or show where not.

The export is streamed with the same reader and mapping as backfill_json. The database is read
in step with it: each batch of export records is matched with the rows its natural keys name
(the export is not sorted, so a merge join would need a sort of millions of rows; keyed lookups
keep memory flat instead). Rows the export does not name are found by a keyset scan at the end.

Fast path: a row whose stored source fingerprint equals the export record's is equal (the app
keeps the fingerprint current on every write it makes); only the others are compared field by
field. ``--deep`` compares every row field by field, which also catches edits made behind the
app's back (by hand, in SQL).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable

from django.db.models import Count, F, Q
from django.utils import timezone

from catalog.models import Model, ModelStatus, Provider
from catalog.serializers import MODEL_COLUMNS, PROVIDER_COLUMNS, STATUS_COLUMNS
from config.database import mask_url
from migrator import mapping, source, statuses
from migrator.equality import values_equal
from migrator.fingerprints import FingerprintReader
from migrator.models import Entity, RejectedRecord, ValidationRun
from migrator.runs import operator_name
from migrator.validation_report import (
    BATCH_SIZE,
    ENTITIES,
    Difference,
    EntityResult,
    Options,
    Pending,
    Report,
    Reservoir,
)

logger = logging.getLogger(__name__)

DIFFERENCE_CAP = 100_000
SCAN_PAGE = 10_000
COUNTERS = {"missing": "missing", "extra": "extra", "changed": "changed", "orphan": "orphans"}

# Column -> the export's own name for it, for readable differences.
EXPORT_NAMES = {
    Entity.PROVIDERS: {v: k for k, v in mapping.PROVIDER_FIELDS.items()},
    Entity.MODELS: {v: k for k, v in mapping.MODEL_FIELDS.items()}
    | {"provider_slug": "provider.id"},
    Entity.STATUSES: {v: k for k, v in mapping.STATUS_FIELDS.items()},
}
COMPARED = {
    Entity.PROVIDERS: tuple(c for c in PROVIDER_COLUMNS if c != "metadata"),
    Entity.MODELS: ("provider_slug", *(c for c in MODEL_COLUMNS if c != "metadata")),
    Entity.STATUSES: tuple(c for c in STATUS_COLUMNS if c != "metadata"),
}


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
        self.rng = random.Random(options.seed)  # noqa: S311 (sampling, not secrets)
        self.run_record: ValidationRun | None = None

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
                "deep": options.deep,
                "strict": options.strict,
                "float_tolerance": options.float_tolerance,
                "sample": options.sample,
            },
        )
        self.rejects = {
            (r.entity, r.position): r
            for r in RejectedRecord.objects.only("entity", "position", "record_key", "reason")
        }
        try:
            self._compare(files)
            self._check_integrity()
        except Exception as exc:
            self.run_record.error = str(exc)
            logger.error("event=validation_failed run=%s error=%r", self.run_record.pk, str(exc))
            self.run_record.finished_at = timezone.now()
            self.run_record.sources = [f.describe() for f in self.files]
            self.run_record.save()
            raise
        return self._finish(files)

    def _compare(self, files):
        wanted = self.options.entities
        # Providers come from providers.json and, for those it lacks, from models.json.
        self.expected_providers: dict[str, tuple] = {}
        self.provider_slugs_in_file: set[str] = set()
        if "providers" in files:
            self._timed(Entity.PROVIDERS, lambda: self._read_providers(files["providers"]))
        if "models" in files and (Entity.MODELS in wanted or Entity.PROVIDERS in wanted):
            self._timed(Entity.MODELS, lambda: self._models(files["models"]))
        if Entity.PROVIDERS in wanted and ("providers" in files or "models" in files):
            self._timed(Entity.PROVIDERS, self._providers)
        if "statuses" in files and Entity.STATUSES in wanted:
            self._timed(Entity.STATUSES, lambda: self._statuses(files["statuses"]))

    def _timed(self, entity, work):
        started = time.perf_counter()
        try:
            work()
        finally:
            self.results[entity].seconds += time.perf_counter() - started

    def _finish(self, files) -> Report:
        options = self.options
        complete = (
            options.entities == frozenset(ENTITIES)
            and options.sample is None
            and set(files) == set(source.KINDS)
        )
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
            "event=validation_finished run=%s passed=%s complete=%s differences=%s mode=%s "
            "sources=%s",
            run.pk,
            passed,
            complete,
            self.difference_count,
            "deep" if options.deep else "fast",
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

    def _excused(self, entity, position) -> bool:
        """A record the reject queue holds: listed apart, not a difference (unless --strict)."""
        if (entity, position) not in self.rejects:
            return False
        self.results[entity].excused += 1
        if self.options.strict:
            reject = self.rejects[(entity, position)]
            self._record(Difference("rejected", entity, reject.record_key, detail=reject.reason))
        return True

    def _changes(self, entity, expected: dict, actual: dict) -> list:
        tolerance = self.options.float_tolerance
        names = EXPORT_NAMES[entity]
        changes = [
            (names.get(column, column), expected[column], actual[column])
            for column in COMPARED[entity]
            if not values_equal(expected[column], actual[column], tolerance=tolerance)
        ]
        theirs, ours = expected["metadata"], actual["metadata"] or {}
        for key in sorted(set(theirs) | set(ours)):
            a, b = theirs.get(key, _ABSENT), ours.get(key, _ABSENT)
            if not values_equal(a, b, tolerance=tolerance):
                changes.append((f"metadata.{key}", _shown(a), _shown(b)))
        return changes

    def _warn(self, kind: str, example: str):
        self.warnings[kind] = self.warnings.get(kind, 0) + 1
        if len(self.warning_examples) < 50:
            self.warning_examples.append(example)

    def _sampled(self, items: Iterable) -> list:
        """All items, or a random sample of ``--sample`` of them."""
        if self.options.sample is None:
            return list(items)
        reservoir = Reservoir(self.options.sample, self.rng)
        for item in items:
            reservoir.add(item)
        return reservoir.items

    # --- providers ----------------------------------------------------------------------------

    def _read_providers(self, export_file):
        result = self.results[Entity.PROVIDERS]
        for index, raw in source.iter_records(export_file):
            result.in_export += 1
            position = f"#{index}"
            try:
                row = mapping.map_provider(raw)
            except mapping.RecordError as exc:
                if not self._excused(Entity.PROVIDERS, position):
                    self._differ(
                        "missing",
                        Entity.PROVIDERS,
                        position,
                        detail=f"invalid record, not in the reject queue: {exc}",
                    )
                continue
            slug = row["slug"]
            if slug in self.expected_providers:
                if not self._excused(Entity.PROVIDERS, position):
                    self._differ(
                        "missing",
                        Entity.PROVIDERS,
                        f"{slug} {position}",
                        detail="duplicate slug, not in the reject queue",
                    )
                continue
            self.provider_slugs_in_file.add(slug)
            self.expected_providers[slug] = (row, mapping.source_hash(raw), position)

    def _embedded_provider(self, raw, position):
        slug = raw["provider"]["id"]
        if slug in self.expected_providers:
            return
        try:
            row = mapping.map_embedded_provider(raw["provider"])
        except mapping.RecordError:
            return
        self.results[Entity.PROVIDERS].in_export += 1
        self.expected_providers[slug] = (
            row,
            mapping.source_hash(raw["provider"]),
            f"{position}.provider",
        )

    def _providers(self):
        result = self.results[Entity.PROVIDERS]
        result.checked = True
        actual = {
            row["slug"]: row
            for row in Provider.objects.values("id", "source_hash", *PROVIDER_COLUMNS)
        }
        result.in_database = len(actual)
        for slug, (expected, digest, _position) in self._sampled(self.expected_providers.items()):
            row = actual.get(slug)
            if row is None:
                self._differ("missing", Entity.PROVIDERS, slug)
            elif not self.options.deep and row["source_hash"] == digest:
                result.matched += 1
            else:
                changes = self._changes(Entity.PROVIDERS, expected, row)
                if changes:
                    self._differ("changed", Entity.PROVIDERS, slug, changes)
                else:
                    result.matched += 1
        extras = [slug for slug in actual if slug not in self.expected_providers]
        for slug in self._sampled(sorted(extras)):
            self._differ("extra", Entity.PROVIDERS, slug)

    # --- models -------------------------------------------------------------------------------

    def _models(self, export_file):
        wanted = Entity.MODELS in self.options.entities
        result = self.results[Entity.MODELS]
        result.checked = wanted
        sample = self.options.sample
        db_sample = set(_random_keys(Model, "slug", sample)) if wanted and sample else set()
        found: set[str] = set()
        seen: dict[str, str] = {}
        pending = Pending(self.rng, sample, flush=self._models_batch if wanted else None)
        for index, raw in source.iter_records(export_file):
            result.in_export += 1
            position = f"#{index}"
            try:
                _, slug = mapping.model_slug(raw)
            except mapping.RecordError as exc:
                pending.add((position, raw, None, f"invalid record: {exc}"))
                continue
            self._embedded_provider(raw, position)
            if slug in db_sample:
                found.add(slug)
            if slug in seen:
                pending.add((position, raw, slug, f"duplicate slug (first at {seen[slug]})"))
                continue
            seen[slug] = position
            pending.add((position, raw, slug, None))
        if not wanted:
            return
        pending.finish()
        result.in_database = Model.objects.count()
        if sample is None:
            extras = (slug for _, slug in _keyset(Model, "slug") if slug not in seen)
        else:
            extras = sorted(db_sample - found)
        for slug in extras:
            self._differ("extra", Entity.MODELS, slug)

    def _models_batch(self, candidates):
        batch = []
        for position, raw, slug, problem in candidates:
            if problem is not None:
                self._unloaded(Entity.MODELS, position, problem)
            else:
                batch.append((slug, position, raw))
        for start in range(0, len(batch), BATCH_SIZE):
            self._compare_models(batch[start : start + BATCH_SIZE])

    def _compare_models(self, batch):
        slugs = [slug for slug, _, _ in batch]
        stored = {
            slug: (row_id, digest)
            for slug, row_id, digest in Model.objects.filter(slug__in=slugs).values_list(
                "slug", "id", "source_hash"
            )
        }
        to_compare = self._classify(
            Entity.MODELS,
            mapping.map_model,
            ((slug, position, raw, stored.get(slug)) for slug, position, raw in batch),
        )
        rows = Model.objects.values("id", *MODEL_COLUMNS, provider_slug=F("provider__slug"))
        self._compare_rows(Entity.MODELS, to_compare, rows)

    def _classify(self, entity, mapper, items) -> list[tuple]:
        """``items``: (key, position, raw record, (row id, fingerprint) or None). Counts the
        matches (fingerprint equal, unless --deep) and the missing; returns what must be compared
        field by field, as (row id, key, mapped record)."""
        result = self.results[entity]
        to_compare = []
        for key, position, raw, stored in items:
            if (
                stored is not None
                and not self.options.deep
                and stored[1] == mapping.source_hash(raw)
            ):
                result.matched += 1
                continue
            try:
                expected = mapper(raw)
            except mapping.RecordError as exc:
                self._unloaded(entity, position, f"invalid record: {exc}")
                continue
            if stored is None:
                if not self._excused(entity, position):
                    self._differ("missing", entity, key)
                continue
            to_compare.append((stored[0], key, expected))
        return to_compare

    def _compare_rows(self, entity, to_compare, rows):
        """Field by field, against ``rows`` (a values() queryset) read by id a page at a time."""
        ids = [row_id for row_id, _, _ in to_compare]
        by_id = {}
        for start in range(0, len(ids), SCAN_PAGE):
            for row in rows.filter(id__in=ids[start : start + SCAN_PAGE]):
                by_id[row["id"]] = row
        result = self.results[entity]
        for row_id, key, expected in to_compare:
            changes = self._changes(entity, expected, by_id[row_id])
            if changes:
                self._differ("changed", entity, key, changes)
            else:
                result.matched += 1

    # --- statuses -----------------------------------------------------------------------------

    def _statuses(self, export_file):
        """The export's statuses, read and mapped by a second process (migrator.statuses),
        compared here batch by batch (whole models, so a model's extra regions show up)."""
        result = self.results[Entity.STATUSES]
        result.checked = True
        sample = self.options.sample
        model_ids = dict(Model.objects.values_list("slug", "id"))
        db_sample = set()
        if sample:
            rows = ModelStatus.objects.order_by("?").values_list("model__slug", "region")[:sample]
            db_sample = set(rows)
        found, seen_models = set(), set()
        reservoir = Reservoir(sample, self.rng) if sample else None
        checker = statuses.Checker(
            export_file,
            model_ids,
            BATCH_SIZE,
            self.now,
            deep=self.options.deep,
            fingerprints=FingerprintReader(),
        )
        for message in statuses.batches_of(checker.batches, export_file, name="validate-reader"):
            result.in_export += message.read
            for kind, count in message.warnings.items():
                self.warnings[kind] = self.warnings.get(kind, 0) + count
            self.warning_examples += message.examples[: 50 - len(self.warning_examples)]
            named = {model_ids[slug] for slug in message.models if slug in model_ids}
            seen_models |= named
            if reservoir is None:
                self._check_statuses(message.items, model_ids, named)
                continue
            for item in message.items:
                if (item[0], item[2]) in db_sample:
                    found.add((item[0], item[2]))
                reservoir.add(item)
        if reservoir is not None:
            self._check_statuses(reservoir.items, model_ids, set())
        result.in_database = ModelStatus.objects.count()
        if sample:
            for model_slug, region in sorted(db_sample - found):
                self._differ("extra", Entity.STATUSES, f"{model_slug}@{region}")
            return
        # Statuses of models the status file does not name at all.
        with_status = set(ModelStatus.objects.values_list("model_id", flat=True).distinct())
        slugs = {v: k for k, v in model_ids.items()}
        for model_id in sorted(with_status - seen_models, key=lambda m: slugs.get(m, "")):
            regions = ModelStatus.objects.filter(model_id=model_id).order_by("region")
            for region in regions.values_list("region", flat=True):
                self._differ("extra", Entity.STATUSES, f"{slugs.get(model_id)}@{region}")

    def _check_statuses(self, items, model_ids, named: set[int]):
        """Compare one batch of checked items (see statuses.Checked) with the database."""
        result = self.results[Entity.STATUSES]
        batch_models = sorted({model_ids[i[0]] for i in items if i[0] in model_ids} | named)
        stored = {
            (model_id, region): (row_id, digest)
            for model_id, region, row_id, digest in ModelStatus.objects.filter(
                model_id__in=batch_models
            ).values_list("model_id", "region", "id", "source_hash")
        }
        listed, to_compare = set(), []
        for model_slug, position, region, digest, state, payload in items:
            if state == statuses.PROBLEM:
                self._unloaded(Entity.STATUSES, position, payload)
                continue
            model_id, key = model_ids.get(model_slug), f"{model_slug}@{region}"
            if model_id is None:
                if not self._excused(Entity.STATUSES, position):
                    self._differ(
                        "orphan",
                        Entity.STATUSES,
                        key,
                        detail=f"its model {model_slug!r} is not in the database",
                    )
                continue
            listed.add((model_id, region))
            found = stored.get((model_id, region))
            if state == statuses.MATCHED or (
                found is not None and not self.options.deep and found[1] == digest
            ):
                result.matched += 1
            elif found is None:
                if not self._excused(Entity.STATUSES, position):
                    self._differ("missing", Entity.STATUSES, key)
            else:
                to_compare.append((found[0], key, payload))
        self._compare_rows(
            Entity.STATUSES, to_compare, ModelStatus.objects.values("id", *STATUS_COLUMNS)
        )
        if self.options.sample is None:
            slugs = dict(Model.objects.filter(id__in=batch_models).values_list("id", "slug"))
            for pair in sorted(set(stored) - listed, key=lambda p: (slugs[p[0]], p[1])):
                self._differ("extra", Entity.STATUSES, f"{slugs[pair[0]]}@{pair[1]}")

    def _unloaded(self, entity, position, problem):
        """A record backfill could not have loaded: excused if the queue holds it."""
        if not self._excused(entity, position):
            self._differ(
                "missing", entity, position, detail=f"{problem}, and not in the reject queue"
            )

    # --- integrity ----------------------------------------------------------------------------

    def _check_integrity(self):
        """The checks an operator would run by hand in SQL; any finding is a difference."""
        checks = {
            "models whose provider is missing": Model.objects.exclude(
                provider_id__in=Provider.objects.values("id")
            ).count(),
            "statuses whose model is missing": ModelStatus.objects.exclude(
                model_id__in=Model.objects.values("id")
            ).count(),
            "duplicate provider slugs": _duplicates(Provider, "slug"),
            "duplicate model slugs": _duplicates(Model, "slug"),
            "duplicate statuses (model, region)": _duplicates(ModelStatus, "model_id", "region"),
            "empty required values": (
                Provider.objects.filter(Q(slug="") | Q(name="")).count()
                + Model.objects.filter(Q(slug="") | Q(name="")).count()
                + ModelStatus.objects.filter(region="").count()
            ),
        }
        self.integrity = checks
        for name, found in checks.items():
            if found:
                self._record(Difference("integrity", "database", name, detail=f"{found} found"))


_ABSENT = object()


def _shown(value):
    return "(absent)" if value is _ABSENT else value


def _duplicates(model, *fields) -> int:
    return model.objects.values(*fields).annotate(n=Count("id")).filter(n__gt=1).order_by().count()


def _keyset(model, field: str):
    """``(id, field)`` of every row, by id, a page at a time: no server-side cursor needed
    (PgBouncer's transaction mode has none) and memory stays flat."""
    last = 0
    while True:
        page = list(
            model.objects.filter(id__gt=last).order_by("id").values_list("id", field)[:SCAN_PAGE]
        )
        if not page:
            return
        yield from page
        last = page[-1][0]


def _random_keys(model, field: str, size: int) -> list:
    return list(model.objects.order_by("?").values_list(field, flat=True)[:size])
