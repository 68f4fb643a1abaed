"""backfill_json's work: stream an export into the catalog, batch by batch, idempotently.

Each batch is one transaction: look up the rows the batch's natural keys already have, skip the
records whose source fingerprint is unchanged (nothing read, nothing written), map the others,
compare the changed ones field by field, then insert, update and record rejects together. A run
killed at any moment leaves whole batches behind, and the next run completes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import operator
import time
from collections.abc import Callable, Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Model, Provider
from config.database import mask_url
from migrator import mapping, prune, rejects, retry, source, statuses, tables
from migrator.equality import differing_columns
from migrator.errors import SourceError, TooManyRejects
from migrator.fingerprints import FingerprintReader
from migrator.models import BackfillRun, Entity
from migrator.runs import operator_name

logger = logging.getLogger(__name__)

# Chosen by measurement (bench/backfill.py --batch-sizes): see the README's figures.
DEFAULT_BATCH_SIZE = 5000
MAX_EXAMPLES = 100
STATUS_ROW = mapping.STATUS_COLUMNS
_STATUS_VALUES = operator.itemgetter(*STATUS_ROW)
ENTITIES = (Entity.PROVIDERS, Entity.MODELS, Entity.STATUSES)


@dataclasses.dataclass
class Counts:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    pruned: int = 0
    absent: int = 0
    warnings: int = 0
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self) | {
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second),
        }


@dataclasses.dataclass(frozen=True)
class Options:
    sources: tuple[str, ...] = ()
    batch_size: int = DEFAULT_BATCH_SIZE
    atomic: bool = False
    prune: bool = False
    dry_run: bool = False
    only: frozenset[str] = frozenset(ENTITIES)
    max_rejects: int | None = None
    retry_failed: bool = False
    actor: str = ""


@dataclasses.dataclass(slots=True)
class Item:
    """One provider or model record on its way to a row (statuses travel as tuples)."""

    key: str  # the natural key: a slug
    raw: object
    digest: str
    record_key: str  # its name in the reject queue
    position: str
    slug: str | None = None  # models: the provider's slug

    @property
    def context(self) -> dict:
        return {"provider_slug": self.slug} if self.slug else {}


@dataclasses.dataclass
class Result:
    run: BackfillRun
    counts: dict[str, Counts]
    files: list[source.ExportFile]
    committed_batches: dict[str, int]
    warnings: list[str]
    rejects: list[rejects.Reject]
    embedded_providers: list[str]

    @property
    def rejected(self) -> int:
        return sum(c.rejected for c in self.counts.values())

    def totals(self) -> Counts:
        total = Counts()
        for counts in self.counts.values():
            for field in dataclasses.fields(Counts):
                setattr(total, field.name, getattr(total, field.name) + getattr(counts, field.name))
        return total


class Backfill:
    """One run of backfill_json. ``progress(file, bytes_read)`` reports reading progress."""

    def __init__(self, options: Options, *, progress: Callable | None = None):
        self.options = options
        self.progress = progress
        self.counts = {entity: Counts() for entity in ENTITIES}
        self.warnings: list[str] = []
        self.reject_examples: list[rejects.Reject] = []
        self.committed: dict[str, int] = {}
        self.files: list[source.ExportFile] = []
        self.pending_rejects: list[rejects.Reject] = []
        self.reject_keys: dict[str, set[str]] = {}
        self.provider_ids: dict[str, int] = {}
        self.model_ids: dict[str, int] = {}
        self._slugs, self._slugs_for = {}, None
        # What this run's files hold (None: the file was not part of the run).
        self.provider_slugs_in_file: set[str] | None = None
        self.embedded_providers: set[str] = set()
        self.model_slugs_in_file: set[str] = set()
        self.status_models_in_file: set[int] = set()
        self.placeholder = 0
        self.run_record: BackfillRun | None = None
        self.now = timezone.now()

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> Result:
        options = self.options
        self.run_record = BackfillRun.objects.create(
            dry_run=options.dry_run,
            actor=operator_name(options.actor),
            arguments={
                "sources": [mask_url(s) for s in options.sources],
                "batch_size": options.batch_size,
                "atomic": options.atomic,
                "prune": options.prune,
                "dry_run": options.dry_run,
                "only": sorted(options.only),
                "max_rejects": options.max_rejects,
                "retry_failed": options.retry_failed,
            },
        )
        error = ""
        try:
            files = {} if options.retry_failed else source.resolve(list(options.sources))
            self.files = [files[kind] for kind in source.KINDS if kind in files]
            if options.atomic:
                with transaction.atomic():
                    self._load(files)
            else:
                self._load(files)
        except (SourceError, TooManyRejects) as exc:
            error = str(exc)
            raise
        finally:
            self._finish(error)
        return self.result()

    def result(self) -> Result:
        return Result(
            run=self.run_record,
            counts=self.counts,
            files=self.files,
            committed_batches=self.committed,
            warnings=self.warnings,
            rejects=self.reject_examples,
            embedded_providers=sorted(self.embedded_providers),
        )

    def _finish(self, error: str):
        run = self.run_record
        run.finished_at = timezone.now()
        if error:
            run.outcome = BackfillRun.Outcome.FAILED
            if self.options.atomic:
                self.committed = dict.fromkeys(self.committed, 0)
        elif any(c.rejected for c in self.counts.values()):
            run.outcome = BackfillRun.Outcome.REJECTED
        else:
            run.outcome = BackfillRun.Outcome.SUCCEEDED
        run.error = error
        run.sources = [f.describe() for f in self.files]
        run.counts = {entity: c.as_dict() for entity, c in self.counts.items()}
        # A dry run commits nothing, whatever batches it went through.
        run.committed_batches = {} if self.options.dry_run else self.committed
        run.save()
        totals = self.result().totals()
        logger.info(
            "event=backfill_finished run=%s outcome=%s dry_run=%s read=%s inserted=%s updated=%s "
            "unchanged=%s rejected=%s pruned=%s seconds=%.1f sources=%s error=%r",
            run.pk,
            run.outcome,
            run.dry_run,
            totals.read,
            totals.inserted,
            totals.updated,
            totals.unchanged,
            totals.rejected,
            totals.pruned,
            totals.seconds,
            ",".join(f.shown for f in self.files)
            or ("reject-queue" if self.options.retry_failed else "none"),
            error,
        )

    def _load(self, files: dict[str, source.ExportFile]):
        self.reject_keys = rejects.known_keys()
        if self.options.retry_failed:
            retry.retry_failed(self)
            return
        complete = set()
        only = self.options.only
        if "providers" in files and Entity.PROVIDERS in only:
            self._timed(Entity.PROVIDERS, lambda: self._providers(files["providers"]))
            complete.add(Entity.PROVIDERS)
        if "models" in files and Entity.MODELS in only:
            self._timed(Entity.MODELS, lambda: self._models(files["models"]))
            complete.add(Entity.MODELS)
        if "statuses" in files and Entity.STATUSES in only:
            self._timed(Entity.STATUSES, lambda: self._statuses(files["statuses"]))
            complete.add(Entity.STATUSES)
        prune.absent_and_prune(self, complete)

    def _timed(self, entity, work):
        started = time.perf_counter()
        table = tables.TABLES[entity]
        try:
            if not self.options.dry_run:
                tables.refresh_statistics(table, only_if_missing=True)
            work()
            if not self.options.dry_run:
                tables.refresh_statistics(table)
        finally:
            self.counts[entity].seconds += time.perf_counter() - started

    # --- reading each file --------------------------------------------------------------------

    def _records(self, export_file: source.ExportFile) -> Iterable:
        self.committed.setdefault(export_file.name, 0)
        report = None
        if self.progress is not None:

            def report(done):
                self.progress(export_file, done)

        return source.iter_records(export_file, progress=report)

    def _providers(self, export_file):
        self.provider_slugs_in_file = set()
        seen: dict[str, int] = {}
        counts = self.counts[Entity.PROVIDERS]
        batch: list[Item] = []
        for index, raw in self._records(export_file):
            counts.read += 1
            position = f"#{index}"
            slug = raw.get("slug") if isinstance(raw, dict) else None
            if not isinstance(slug, str) or not slug:
                self._reject_record(
                    export_file,
                    Entity.PROVIDERS,
                    position,
                    position,
                    raw,
                    mapping.RecordError("slug is required", "slug"),
                )
                continue
            if slug in seen:
                self._reject_record(
                    export_file,
                    Entity.PROVIDERS,
                    f"{slug} {position}",
                    position,
                    raw,
                    mapping.RecordError(f"duplicate slug {slug!r}: first at #{seen[slug]}", "slug"),
                )
                continue
            seen[slug] = index
            self.provider_slugs_in_file.add(slug)
            batch.append(
                Item(slug, raw, mapping.source_hash(raw), record_key=slug, position=position)
            )
            if len(batch) >= self.options.batch_size:
                self._flush(export_file, tables.PROVIDERS, batch, map_provider)
                batch = []
        self._flush(export_file, tables.PROVIDERS, batch, map_provider)

    def _models(self, export_file):
        # Ids of the database, plus placeholders for the rows a dry run only pretended to insert.
        self.provider_ids = dict(Provider.objects.values_list("slug", "id")) | self.provider_ids
        seen: dict[str, int] = {}
        counts = self.counts[Entity.MODELS]
        batch: list[Item] = []
        for index, raw in self._records(export_file):
            counts.read += 1
            position = f"#{index}"
            try:
                provider_slug, slug = mapping.model_slug(raw)
            except mapping.RecordError as exc:
                self._reject_record(
                    export_file, Entity.MODELS, _model_key(raw, position), position, raw, exc
                )
                continue
            if slug in seen:
                self._reject_record(
                    export_file,
                    Entity.MODELS,
                    f"{slug} {_model_key(raw, position)}",
                    position,
                    raw,
                    mapping.RecordError(
                        f"duplicate slug {slug!r}: models.json #{seen[slug]} derives it too "
                        "(the first one loads)",
                        "name",
                    ),
                )
                continue
            seen[slug] = index
            self.model_slugs_in_file.add(slug)
            batch.append(
                Item(
                    slug,
                    raw,
                    mapping.source_hash(raw),
                    record_key=slug,
                    position=position,
                    slug=provider_slug,
                )
            )
            if len(batch) >= self.options.batch_size:
                self._flush_models(export_file, batch)
                batch = []
        self._flush_models(export_file, batch)

    def _statuses(self, export_file):
        """Statuses are read, checked and mapped by a second process (migrator.statuses); this
        one writes each batch while that one reads the next."""
        self.model_ids = dict(Model.objects.values_list("slug", "id")) | self.model_ids
        self.statuses_were_empty = tables.is_empty(tables.STATUSES)
        self.committed.setdefault(export_file.name, 0)
        counts = self.counts[Entity.STATUSES]
        preparer = statuses.Preparer(
            export_file,
            self.model_ids,
            self.options.batch_size,
            self.now,
            ready=tables.ready_converter(STATUS_ROW),
            fingerprints=None if self.statuses_were_empty else FingerprintReader(),
        )
        for message in statuses.batches_of(preparer.batches, export_file, name="backfill-reader"):
            counts.read += message.read
            for reject in message.rejects:
                self._queue_reject(reject)
            self.status_models_in_file.update(message.models)
            if self.progress is not None:
                self.progress(export_file, message.bytes_read)
            self._flush_statuses(export_file, message.items, message.models)

    # --- batches ------------------------------------------------------------------------------

    def _flush_models(self, export_file, batch: list[Item]):
        """Models need their providers: providers.json's, else the one the model embeds."""
        embedded: dict[str, Item] = {}
        in_file = self.provider_slugs_in_file
        for item in batch:
            slug = item.slug
            if slug in embedded or slug in self.embedded_providers:
                continue
            known = slug in self.provider_ids
            if known and (in_file is None or slug in in_file):
                continue  # providers.json speaks for it (or was not part of this run)
            raw = item.raw["provider"]
            embedded[slug] = Item(
                slug,
                raw,
                mapping.source_hash(raw),
                record_key=slug,
                position=f"{item.position}.provider",
            )
        self.embedded_providers.update(embedded)
        self.counts[Entity.PROVIDERS].read += len(embedded)
        with self._batch(export_file):
            if embedded:
                self._apply(
                    export_file,
                    tables.PROVIDERS,
                    list(embedded.values()),
                    _map_embedded_provider,
                    counts_as=Entity.PROVIDERS,
                )
            self._apply(export_file, tables.MODELS, batch, self._map_model)

    def _flush_statuses(self, export_file, batch: list[tuple], model_ids: list[int]):
        """One batch of prepared statuses: (model id, region, fingerprint, values) each."""
        if not batch and not model_ids and not self.pending_rejects:
            return
        if self.statuses_were_empty:
            # A first load: nothing to look up. Should a concurrent writer (the API, with
            # dual-write on) have added a row meanwhile, the COPY fails on the unique key and
            # the batch is done again the careful way.
            snapshot = self._snapshot()
            try:
                with self._batch(export_file):
                    self._apply_statuses(export_file, batch, existing={})
                return
            except IntegrityError:
                self._restore(snapshot)
                self.statuses_were_empty = False
        existing = {}
        real_ids = [m for m in model_ids if m > 0]
        if real_ids:
            existing = tables.existing_keys(tables.STATUSES, "model_id", real_ids)
        listed = {(model_id, region) for model_id, region, *_ in batch}
        absent = [row_id for key, (row_id, _) in existing.items() if key not in listed]
        with self._batch(export_file):
            self._apply_statuses(export_file, batch, existing=existing)
            prune.absent(self, Entity.STATUSES, tables.STATUSES, absent)

    def _snapshot(self):
        """What a batch that must be done again would otherwise count twice."""
        return (
            {entity: dataclasses.replace(counts) for entity, counts in self.counts.items()},
            len(self.pending_rejects),
            len(self.reject_examples),
            len(self.warnings),
        )

    def _restore(self, snapshot):
        counts, pending, examples, warnings = snapshot
        for entity, saved in counts.items():
            for field in dataclasses.fields(Counts):
                setattr(self.counts[entity], field.name, getattr(saved, field.name))
        del self.pending_rejects[pending:]
        del self.reject_examples[examples:]
        del self.warnings[warnings:]

    def _flush(self, export_file, table, batch, mapper):
        with self._batch(export_file):
            self._apply(export_file, table, batch, mapper)

    @contextlib.contextmanager
    def _batch(self, export_file):
        """One batch, one transaction: its rows and its rejects commit together."""
        with transaction.atomic():
            tables.check_constraints_now()
            yield
            if self.pending_rejects and not self.options.dry_run:
                rejects.rejects_store(self.pending_rejects, run=self.run_record)
        self.pending_rejects = []
        self.committed[export_file.name] += 1
        self._check_reject_limit()

    def _apply(self, export_file, table, batch, mapper, *, existing=None, counts_as=None):
        """Classify, map, compare and write one batch of providers or models."""
        counts = self.counts[counts_as or table.entity]
        if existing is None:
            existing = tables.existing_keys(table, "slug", [item.key for item in batch])
        inserts, candidates = [], []
        rejected_before = len(self.pending_rejects)
        for item in batch:
            found = existing.get(item.key)
            if found is not None and found[1] == item.digest:
                counts.unchanged += 1
                continue
            try:
                row = mapper(item)
            except mapping.RecordError as exc:
                self._reject_record(
                    export_file,
                    table.entity,
                    item.record_key,
                    item.position,
                    item.raw,
                    exc,
                    item.context,
                )
                continue
            row["source_hash"] = item.digest
            if found is None:
                inserts.append(row)
            else:
                row["id"] = found[0]
                candidates.append(row)
        self._write(table, counts, inserts, candidates, batch, rejected_before)

    def _apply_statuses(self, export_file, batch, *, existing, record_keys=None):
        """_apply for prepared statuses: new rows go as tuples (no dict per record)."""
        counts = self.counts[Entity.STATUSES]
        inserts, candidates = [], []
        rejected_before = len(self.pending_rejects)
        for model_id, region, digest, values, warnings in batch:
            found = existing.get((model_id, region))
            if found is not None and found[1] == digest:
                counts.unchanged += 1
                continue
            if values is None:
                # The reader saw this record stored as it is; the row changed since, under
                # another writer: this run leaves it, the next one reconciles it.
                self._note_warnings(
                    counts,
                    [
                        f"{self._slug(model_id)}@{region}: changed by "
                        "another writer during the run; run again"
                    ],
                )
                counts.unchanged += 1
                continue
            if warnings:
                self._note_warnings(counts, warnings)
            if found is None:
                inserts.append((model_id, *values, digest))
            else:
                row = tables.python_values(STATUS_ROW, values)
                row.update(model_id=model_id, source_hash=digest, id=found[0])
                candidates.append(row)
        self._write(
            tables.STATUSES,
            counts,
            inserts,
            candidates,
            batch,
            rejected_before,
            record_keys=record_keys,
            ready=True,
        )

    def _note_warnings(self, counts, warnings):
        counts.warnings += len(warnings)
        self.warnings += warnings[: MAX_EXAMPLES - len(self.warnings)]

    def _slug(self, model_id) -> str:
        """The slug of a model id. The reverse map is built again whenever model_ids is replaced
        (each pass assigns a new dict; none changes it in place while statuses are read)."""
        if self._slugs_for is not self.model_ids:
            self._slugs = {id_: slug for slug, id_ in self.model_ids.items()}
            self._slugs_for = self.model_ids
        return self._slugs.get(model_id, "?")

    def _write(
        self,
        table,
        counts,
        inserts,
        candidates,
        batch,
        rejected_before,
        *,
        record_keys=None,
        ready=False,
    ):
        """Compare the candidates, count, and (unless a dry run) write the batch."""
        updates, rehash = self._compare(table, candidates)
        counts.inserted += len(inserts)
        counts.updated += len(updates)
        counts.unchanged += len(rehash)
        if self.options.dry_run:
            if table is not tables.STATUSES:
                for row in inserts:
                    self._remember_id(table, row, self._placeholder())
            return
        tables.insert(table, inserts, self.now, ready=ready)
        tables.update(table, updates, self.now)
        tables.set_hashes(table, rehash)
        if inserts and table is not tables.STATUSES:
            slugs = [row["slug"] for row in inserts]
            for slug, (row_id, _) in tables.existing_keys(table, "slug", slugs).items():
                self._remember_id(table, {"slug": slug}, row_id)
        self._resolve_rejects(table.entity, batch, rejected_before, record_keys)

    def _resolve_rejects(self, entity, batch, rejected_before, record_keys=None):
        """Queued rejects that loaded in this batch leave the queue."""
        known = self.reject_keys.get(entity)
        if not known:
            return
        rejected_now = {r.record_key for r in self.pending_rejects[rejected_before:]}
        if record_keys is not None:
            keys = record_keys
        elif entity == Entity.STATUSES:
            keys = (f"{self._slug(model_id)}@{region}" for model_id, region, *_ in batch)
        else:
            keys = (item.record_key for item in batch)
        resolved = [key for key in keys if key in known and key not in rejected_now]
        if resolved:
            rejects.rejects_resolve(entity, resolved)
            known.difference_update(resolved)

    def _compare(self, table, candidates):
        if not candidates:
            return [], []
        current = tables.current_rows(table, [row["id"] for row in candidates])
        updates, rehash = [], []
        for row in candidates:
            if differing_columns(row, current[row["id"]], table.compared):
                updates.append(row)
            else:
                rehash.append((row["id"], row["source_hash"]))
        return updates, rehash

    def _remember_id(self, table, row, row_id):
        if table is tables.PROVIDERS:
            self.provider_ids[row["slug"]] = row_id
        elif table is tables.MODELS:
            self.model_ids[row["slug"]] = row_id

    def _placeholder(self) -> int:
        self.placeholder -= 1
        return self.placeholder

    def _map_model(self, item: Item) -> dict:
        row = mapping.map_model(item.raw)
        provider_id = self.provider_ids.get(row.pop("provider_slug"))
        if provider_id is None:  # pragma: no cover - _flush_models created it
            raise mapping.RecordError("provider could not be created", "provider")
        row["provider_id"] = provider_id
        return row

    # --- rejects and warnings -----------------------------------------------------------------

    def _reject_record(self, export_file, entity, record_key, position, raw, exc, context=None):
        reject = rejects.Reject(
            entity=entity,
            record_key=record_key,
            file=export_file.name,
            location=export_file.shown,
            position=position,
            reason=exc.reason,
            field=exc.field or "",
            raw=raw,
            context=context or {},
        )
        self._queue_reject(reject)

    def _queue_reject(self, reject: rejects.Reject):
        """Counted now; stored with the batch it belongs to (same transaction)."""
        self.counts[reject.entity].rejected += 1
        self.pending_rejects.append(reject)
        if len(self.reject_examples) < MAX_EXAMPLES:
            self.reject_examples.append(reject)

    def _check_reject_limit(self):
        limit = self.options.max_rejects
        total = sum(c.rejected for c in self.counts.values())
        if limit is not None and total > limit:
            raise TooManyRejects(f"{total} record(s) rejected, more than --max-rejects {limit}")


def map_provider(item: Item) -> dict:
    return mapping.map_provider(item.raw)


def _map_embedded_provider(item: Item) -> dict:
    return mapping.map_embedded_provider(item.raw)


def _model_key(raw, position: str) -> str:
    source_id = raw.get("id") if isinstance(raw, dict) else None
    return f"id {source_id}" if isinstance(source_id, str) and source_id else position
