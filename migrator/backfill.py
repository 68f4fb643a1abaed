"""backfill_json's work: stream an export into the catalog, batch by batch, idempotently.

Records go through the acceptance pipeline (migrator.pipeline); each batch of accepted records is
staged and matched with the stored rows by the database (migrator.tables), which compares every
stored column with the export's value: new rows are inserted, rows that differ (changed in the
export, or behind the app's back) are written back, equal rows are left alone. Each batch is one
transaction with its rejects, so a run killed at any moment leaves whole batches behind, and the
next run completes them. A dry run does all of it in one transaction and rolls it back.

A full run records a state token at its end (migrator.state_token); the next run with the same
export, code, options and stored content is recognised as already loaded and reads nothing
(``--full`` reads it anyway).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable

from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Model, Provider
from config.database import mask_url
from migrator import batches, direction, envelope, rejects, source, state_token, tables, undo
from migrator import prune as pruning
from migrator.errors import SourceError, TooManyRejects
from migrator.models import BackfillRun, Entity, RejectedRecord
from migrator.pipeline import Acceptance, load_aliases
from migrator.runs import Throughput, operator_name

logger = logging.getLogger(__name__)

# Chosen by measurement (bench/backfill.py --batch-sizes): see the README's figures.
DEFAULT_BATCH_SIZE = 5000
MAX_EXAMPLES = 100
ENTITIES = (Entity.PROVIDERS, Entity.MODELS, Entity.STATUSES)
REJECT_QUEUE = "reject queue"


@dataclasses.dataclass
class Counts(Throughput):
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    merged: int = 0
    pruned: int = 0
    absent: int = 0
    warnings: int = 0
    stale: int = 0  # statuses older than the stored row, skipped (the database is the truth)
    seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class Options:
    sources: tuple[str, ...] = ()
    batch_size: int = DEFAULT_BATCH_SIZE
    atomic: bool = False
    prune: bool = False
    max_prune_percent: float = pruning.DEFAULT_MAX_PERCENT
    force: bool = False
    dry_run: bool = False
    only: frozenset[str] = frozenset(ENTITIES)
    max_rejects: int | None = None
    retry_failed: bool = False
    actor: str = ""
    full: bool = False  # read the export even when the database already holds it


@dataclasses.dataclass
class Result:
    run: BackfillRun
    counts: dict[str, Counts]
    files: list[source.ExportFile]
    committed_batches: dict[str, int]
    warnings: list[str]
    rejects: list[rejects.Reject]
    embedded_providers: list[str]
    notes: list[str] = dataclasses.field(default_factory=list)
    already_loaded: state_token.Decision | None = None  # the skip check, when one was made
    token_recorded: bool = False
    token_seconds: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0  # the whole run (file hashing and digests included)

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
        self.notes: list[str] = []
        self.reject_examples: list[rejects.Reject] = []
        self.committed: dict[str, int] = {}
        self.files: list[source.ExportFile] = []
        self.pending_rejects: list[rejects.Reject] = []
        self.queued: dict[str, set[str]] = {}
        self.embedded: set[str] = set()
        self.loaded: set[str] = set()
        self.staging = tables.Staging()
        # A first load (into an empty table): written straight into it, its ids kept as ranges.
        self.first_load: tables.Table | None = None
        self.seen_ranges: dict[str, list[list[int]]] = {}
        self.growth: dict[str, tables.Growth] = {}  # statistics kept in step with inserts
        self.run_record: BackfillRun | None = None
        self.now = timezone.now()
        self.keep_newer = False  # set per run: whether the database is the source of truth
        self.decision: state_token.Decision | None = None
        self.tracker: state_token.Tracker | None = None
        self.token: dict | None = None
        self.started = time.perf_counter()

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> Result:
        options = self.options
        self.started = time.perf_counter()
        self.run_record = BackfillRun.objects.create(
            dry_run=options.dry_run,
            actor=operator_name(options.actor),
            arguments={
                "sources": [mask_url(s) for s in options.sources],
                "batch_size": options.batch_size,
                "atomic": options.atomic,
                "prune": options.prune,
                "max_prune_percent": options.max_prune_percent,
                "force": options.force,
                "dry_run": options.dry_run,
                "only": sorted(options.only),
                "max_rejects": options.max_rejects,
                "retry_failed": options.retry_failed,
                "full": options.full,
            },
        )
        error = ""
        try:
            self.keep_newer = not options.force and direction.database_is_truth()
            if self.keep_newer:
                self.notes.append(
                    "reads come from the database (the source of truth): a status older than "
                    "the stored row (checkedAt) is skipped and counted as stale (--force "
                    "writes it)"
                )
            files = {} if options.retry_failed else source.resolve(list(options.sources))
            self.files = [files[kind] for kind in source.KINDS if kind in files]
            if self._records_token():
                self._check_already_loaded(files)
            if self.decision is not None and self.decision.skip:
                self._already_loaded(self.decision)
            elif options.dry_run:
                with transaction.atomic():
                    self._load(files)
                    transaction.set_rollback(True)
            elif options.atomic:
                with transaction.atomic():
                    self._load(files)
            else:
                self._load(files)
            if self.tracker is not None:
                self._record_token()
        except (SourceError, TooManyRejects, pruning.PruneRefused) as exc:
            error = str(exc)
            raise
        except BaseException as exc:
            # Anything else (the database gone, Ctrl-C, a bug) fails the run too: recorded as
            # failed with what stopped it, never as succeeded.
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            raise
        finally:
            self._finish(error)
        return self.result()

    def _records_token(self) -> bool:
        """Whether this run may skip, and records a token: a full pass over a whole export that
        commits (not --dry-run, --only or --retry-failed)."""
        options = self.options
        return not (options.dry_run or options.retry_failed or options.only != frozenset(ENTITIES))

    def _check_already_loaded(self, files: dict[str, source.ExportFile]):
        """Decide whether the database already holds this export (state_token.decide); when
        not, the full pass takes the digests of its batches for the token at its end."""
        if self.options.full:
            self.decision = state_token.Decision(False, "--full given")
        else:
            self.decision = state_token.decide(
                self.run_record, self.options, files, keep_newer=self.keep_newer
            )
        if self.decision.skip:
            return
        if self.decision.token is not None or self.options.full:
            self.notes.append(f"read in full: {self.decision.reason}")
        self.tracker = state_token.Tracker()

    def _record_token(self):
        pruned = [e for e in self.tracker.whole if self.counts[e].pruned]
        if pruned:
            # A first load's digest was taken before the prune deleted some of its rows.
            self.notes.append(
                f"no state token recorded: {', '.join(pruned)} loaded into an empty table were "
                "pruned in the same run; the next run reads the export in full"
            )
            return
        token, why, _ = self.tracker.finish(
            self.options, self.files, keep_newer=self.keep_newer, run=self.run_record
        )
        self.token = token
        if token is None:
            self.notes.append(why)

    def _already_loaded(self, decision: state_token.Decision):
        """The run changes nothing: recorded with the counts a full pass would give now."""
        previous = decision.previous
        steady = state_token.steady_counts(previous.counts or {})
        for entity, counts in self.counts.items():
            for name, value in steady.get(entity, {}).items():
                setattr(counts, name, value)
            counts.seconds = decision.seconds.get(entity, 0.0)
        loaded_by = decision.token.get("loaded_by", previous.pk)
        rows = sum(f["rows"] for f in decision.token["catalog"].values())
        self.token = dict(decision.token, recognised_from=previous.pk)
        self.notes.append(
            f"already loaded: recognised as the state run #{previous.pk} recorded (loaded by "
            f"run #{loaded_by}): the same files (size and sha256), pipeline code, options, "
            f"model aliases, reject queue and envelopes, and the database's content digest of "
            f"all {rows} stored rows unchanged; nothing read or written (--full reads the "
            "export anyway)"
        )
        for record in RejectedRecord.objects.filter(last_run_id=loaded_by).order_by("pk")[
            :MAX_EXAMPLES
        ]:
            self.reject_examples.append(
                rejects.Reject(
                    entity=record.entity,
                    record_key=record.record_key,
                    file=record.file,
                    location=record.location,
                    position=record.position,
                    reason=record.reason,
                    field=record.field,
                    raw=record.raw,
                    context=record.context,
                )
            )

    def result(self) -> Result:
        return Result(
            run=self.run_record,
            counts=self.counts,
            files=self.files,
            committed_batches=self.committed,
            warnings=self.warnings,
            rejects=self.reject_examples,
            embedded_providers=sorted(self.embedded),
            notes=self.notes,
            already_loaded=self.decision,
            token_recorded=self.token is not None
            and self.decision is not None
            and not self.decision.skip,
            token_seconds=(self.token or {}).get("seconds", {})
            if self.decision and not self.decision.skip
            else {},
            seconds=time.perf_counter() - self.started,
        )

    def _finish(self, error: str):
        for table in tables.TABLES.values():
            tables.drop(table)
        run = self.run_record
        run.finished_at = timezone.now()
        if error:
            run.outcome = BackfillRun.Outcome.FAILED
            if self.options.atomic or self.options.dry_run:
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
        # Only a run that ended with every batch committed (exit 0 or 1) keeps its token.
        run.state_token = self.token if not error else None
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
        self.queued = rejects.known_keys()
        for table in tables.TABLES.values():
            tables.prepare(table)
        if self.options.retry_failed:
            self._retry()
            return
        only = self.options.only
        acceptance = Acceptance.for_export(files, now=self.now)
        passes = {
            Entity.PROVIDERS: self._pass_providers,
            Entity.MODELS: self._pass_models,
            Entity.STATUSES: self._pass_statuses,
        }
        # Every file present is read (later entities depend on what earlier ones accept);
        # only the entities asked for (--only) are loaded.
        for entity, read in passes.items():
            if entity in files:
                load = entity in only
                self._timed(entity, lambda r=read, e=entity, w=load: r(files[e], acceptance, w))
                if load:
                    self.loaded.add(entity)
            elif entity == Entity.STATUSES and Entity.MODELS in files and entity in only:
                # No model-status.json: the models' own statuses are their statuses (not a
                # whole statuses file: nothing is pruned from them).
                self._timed(entity, lambda r=read: r(None, acceptance, True))
        self._timed_prune(acceptance)

    def _timed(self, entity, work):
        started = time.perf_counter()
        table = tables.TABLES[entity]
        try:
            tables.refresh_statistics(table, only_if_missing=True)
            work()
            tables.refresh_statistics(table)
        finally:
            self.counts[entity].seconds += time.perf_counter() - started

    def _timed_prune(self, acceptance):
        started = time.perf_counter()
        try:
            with transaction.atomic():
                tables.keyed_lookups(on=False)
                pruning.absent_and_prune(self, acceptance)
        finally:
            self.counts[Entity.STATUSES].seconds += time.perf_counter() - started

    # --- the passes ---------------------------------------------------------------------------

    def _records(self, export_file: source.ExportFile) -> Iterable:
        self.committed.setdefault(export_file.name, 0)
        report = None
        if self.progress is not None:

            def report(done):
                self.progress(export_file, done)

        return source.iter_records(export_file, progress=report)

    def _batcher(self, entity, **kwargs) -> batches.Batcher:
        table = tables.TABLES[entity]
        return batches.Batcher(
            self.options.batch_size, tables.ready_converter(table.columns), **kwargs
        )

    def _pass_providers(self, export_file, acceptance, load: bool):
        items = acceptance.providers_from(self._records(export_file))
        self._flush_inline(export_file.name, tables.PROVIDERS, items, load=load)

    def _flush_inline(self, file_name: str, table, items, *, load: bool = True):
        """Items read in this process (no child), batch by batch."""
        batcher = self._batcher(table.entity, keep_items=True)
        for batch in batches.inline_batches(items, batcher):
            self._flush(file_name, table, batch, load=load)

    def _pass_models(self, export_file, acceptance, load: bool, items=None):
        """Models, and before them the providers they embed that providers.json lacks."""
        if items is None:
            items = acceptance.models_from(self._records(export_file), export_file=export_file)
        providers = self._batcher(Entity.PROVIDERS, keep_items=True)
        models = self._batcher(Entity.MODELS, keep_items=True)
        name = export_file.name if export_file is not None else REJECT_QUEUE
        self.committed.setdefault(name, 0)
        for provider_batch, model_batch in batches.model_batches(items, providers, models):
            if load:
                self.embedded.update(item.key for item in provider_batch.accepted.values())
            with self._batch(name):
                self._apply(tables.PROVIDERS, provider_batch, load=load)
                self._apply(tables.MODELS, model_batch, load=load)
        if export_file is not None and load:
            for _kind, text in acceptance.file_warnings:
                self.counts[Entity.MODELS].warnings += 1
                self.warnings.append(text)
            if not self.options.dry_run:
                envelope.envelope_record(
                    export_file, merged=acceptance.merged_records, run=self.run_record
                )

    def _pass_statuses(self, export_file, acceptance, load: bool):
        """Statuses are read, checked and mapped by a second process; this one writes each
        batch while that one reads the next. Then the models' own statuses (models.json) for
        the models the file gave none (``export_file`` None: no model-status.json)."""
        name = export_file.name if export_file is not None else source.FILE_OF_KIND["models"]
        self.committed.setdefault(name, 0)
        in_database = set(Model.objects.values_list("slug", flat=True))
        batcher = self._batcher(
            Entity.STATUSES, keep_items=False, needs_raw=lambda item: item.parent not in in_database
        )
        work = batches.status_batches(export_file, acceptance, batcher)
        read = batches.in_child(work, export_file, name="backfill-reader")
        first = load and tables.is_empty(tables.STATUSES)
        if not (first and self._first_load(export_file, name, read)):
            for batch in read:
                self._flush_read(export_file, name, batch, load=load)
        if export_file is not None and load and not self.options.dry_run:
            envelope.envelope_record(export_file, run=self.run_record)

    def _flush_read(self, export_file, name: str, batch, *, load: bool):
        if self.progress is not None and export_file is not None:
            self.progress(export_file, batch.bytes_read)
        self._flush(name, tables.STATUSES, batch, load=load)

    def _first_load(self, export_file, name: str, read) -> bool:
        """Statuses into an empty table: one transaction that drops the table's secondary
        indexes and constraints, writes every batch straight into the table (no staging, no
        comparison: every row is new) and builds them again once, at the end. All or nothing:
        a failure (or a kill) rolls it all back, indexes included. False (nothing done) when
        the table is no longer empty once locked: the batch-by-batch path then loads it."""
        table = tables.STATUSES
        committed = self.committed.get(name, 0)
        try:
            with transaction.atomic():
                rebuild = tables.drop_secondary_indexes(table)
                if not tables.is_empty(table):
                    raise _NotEmpty
                self.first_load = table
                for batch in read:
                    self._flush_read(export_file, name, batch, load=True)
                self.first_load = None
                # No batch joins here: the foreign key's check and the digest read every row,
                # better hashed than probed row by row.
                tables.keyed_lookups(on=False)
                tables.build(rebuild)
                if self.tracker is not None:
                    self.tracker.whole_table(table)
                ranges, inserted = tables.id_ranges(table)
                undo.inserted_ranges_keep(self.run_record, table, ranges, inserted)
                self.seen_ranges[table.entity] = ranges
        except _NotEmpty:
            return False
        except BaseException:
            self.committed[name] = committed  # nothing of it is kept
            raise
        finally:
            self.first_load = None
        return True

    def _retry(self):
        """The reject queue replayed through the same pipeline and the same batches."""
        queued = {entity: [] for entity in ENTITIES}
        for reject in RejectedRecord.objects.order_by("pk"):
            queued[reject.entity].append(reject)
        only = self.options.only
        acceptance = Acceptance(
            now=self.now,
            known_models=Model.objects.values_list("slug", flat=True),
            held_slugs=dict(Model.objects.values_list("slug", "source_id")),
            location=REJECT_QUEUE,
            aliases=load_aliases(),
        )
        self.committed.setdefault(REJECT_QUEUE, 0)
        if queued[Entity.PROVIDERS] and Entity.PROVIDERS in only:
            items = (
                item
                for reject in queued[Entity.PROVIDERS]
                for item in acceptance.accept_provider(
                    reject.raw, reject.position, queue_key=reject.record_key
                )
            )
            self._timed(
                Entity.PROVIDERS,
                lambda: self._flush_inline(REJECT_QUEUE, tables.PROVIDERS, items),
            )
        if queued[Entity.MODELS] and Entity.MODELS in only:
            acceptance.provider_exists = set(
                Provider.objects.values_list("slug", flat=True)
            ).__contains__
            items = (
                item
                for reject in queued[Entity.MODELS]
                for item in acceptance.accept_model(
                    reject.raw, reject.position, queue_key=reject.record_key
                )
            )
            self._timed(
                Entity.MODELS, lambda: self._pass_models(None, acceptance, True, items=items)
            )
        if queued[Entity.STATUSES] and Entity.STATUSES in only:
            # Statuses may name any model the database has now (not only those replayed here).
            acceptance.models = None
            refs = list(Model.objects.values_list("slug", "source_id", "provider__slug"))
            acceptance.known_models = {slug for slug, _, _ in refs}
            acceptance.model_refs = {slug: (p, {sid} if sid else set()) for slug, sid, p in refs}
            acceptance._key_index = None
            items = (
                item
                for reject in queued[Entity.STATUSES]
                for item in acceptance.accept_statuses(
                    reject.context.get("model_slug", ""),
                    [reject.raw],
                    [reject.position],
                    queue_keys=[reject.record_key],
                    origin=reject.context.get("origin"),
                )
            )
            self._timed(
                Entity.STATUSES,
                lambda: self._flush_inline(REJECT_QUEUE, tables.STATUSES, items),
            )

    # --- batches ------------------------------------------------------------------------------

    def _flush(self, file_name: str, table, batch, *, load: bool):
        with self._batch(file_name):
            self._apply(table, batch, load=load)

    @contextlib.contextmanager
    def _batch(self, file_name: str):
        """One batch, one transaction: its rows and its rejects commit together."""
        with transaction.atomic():
            # Constraints stay deferred to the commit: checking them at once would also fire the
            # catalog version's deferred trigger early, and hold its lock for the whole batch.
            if self.first_load is None:  # a first load's batches join nothing
                tables.keyed_lookups()
            yield
            if self.pending_rejects and not self.options.dry_run:
                rejects.rejects_store(self.pending_rejects, run=self.run_record)
        self.pending_rejects = []
        # With DEBUG on Django logs each query with its parameters; the before-images of a
        # run that updates many rows would stay in that log, hundreds of megabytes of them.
        connection.queries_log.clear()
        self.committed[file_name] = self.committed.get(file_name, 0) + 1
        self._check_reject_limit()

    def _apply(self, table, batch: batches.Batch, *, load: bool):
        """Stage one batch, let the database classify it, write it, queue its rejects."""
        if not load:
            return  # read for what later entities need (--only), not loaded
        counts = self.counts[table.entity]
        counts.read += batch.read
        counts.merged += batch.merged
        for reject in batch.rejects:
            self._queue_reject(reject)
        counts.warnings += batch.warnings
        self.warnings += batch.warning_examples[: MAX_EXAMPLES - len(self.warnings)]
        if not batch.rows:
            return
        if table is self.first_load:
            self._insert_all(table, batch, counts)
            return
        self.staging.load(table, batch.rows)
        loaded_keys = []
        missing_parent = []
        inserts = updates = stale = 0
        classified = tables.classify(table)
        keep_newer = self.keep_newer and table is tables.STATUSES
        older = set()
        if keep_newer and any(differs for *_, differs in classified):
            older = tables.stale_positions(table)
        for pos, parent_id, row_id, differs in classified:
            if table.parent is not None and parent_id is None:
                missing_parent.append(pos)
                continue
            if row_id is None:
                inserts += 1
            elif differs and pos in older:
                stale += 1
            elif differs:
                updates += 1
            else:
                counts.unchanged += 1
            loaded_keys.append(pos)
        counts.inserted += inserts
        counts.updated += updates
        counts.stale += stale
        if inserts:
            undo.inserted_keep(self.run_record, table, tables.insert_new(table, self.now))
            if table.entity not in self.growth:
                self.growth[table.entity] = tables.Growth(table)
            self.growth[table.entity].inserted_rows(inserts)
        if updates:
            ids = tables.differing_ids(table, skip_stale=keep_newer)
            before = tables.snapshot(table, ids)
            tables.update(table, ids, self.now)
            undo.updated_keep(self.run_record, table, before, tables.snapshot(table, ids))
        tables.mark_seen(table)
        if self.tracker is not None:
            self.tracker.batch(table)
        if table is tables.PROVIDERS:
            self.staging.learn(tables.MODELS, (item.key for item in batch.accepted.values()))
        by_pos = {row[0]: row for row in batch.rows}
        for pos in missing_parent:
            self._queue_reject(_missing_parent(table, by_pos[pos], batch))
        self._resolve_queued(table, [by_pos[pos] for pos in loaded_keys], batch)

    def _insert_all(self, table, batch: batches.Batch, counts: Counts):
        """A batch of a first load: every row whose parent exists is new (the table was empty
        and is locked); the others are rejected as staging would have found them."""
        parent_ids = self.staging.parent_ids(table)
        loaded, missing = [], []
        for row in batch.rows:
            (loaded if row[1] in parent_ids else missing).append(row)
        tables.copy_new(table, loaded, parent_ids, self.now)
        counts.inserted += len(loaded)
        for row in missing:
            self._queue_reject(_missing_parent(table, row, batch))
        self._resolve_queued(table, loaded, batch)

    def _resolve_queued(self, table, rows, batch):
        """Queued rejects that loaded in this batch leave the queue."""
        known = self.queued.get(table.entity)
        if not known:
            return
        if batch.accepted:
            keys = [batch.accepted[row[0]].record_key for row in rows]
        elif table is tables.STATUSES:
            keys = [f"{row[1]}@{row[2]}" for row in rows]
        else:  # pragma: no cover - providers and models keep their items
            keys = []
        resolved = [key for key in keys if key in known]
        if resolved:
            rejects.rejects_resolve(table.entity, resolved)
            known.difference_update(resolved)

    # --- rejects ------------------------------------------------------------------------------

    def rejects_kept(self) -> bool:
        """Whether the reject queue holds rejects this run stored (none once rolled back)."""
        if self.run_record is None or self.options.dry_run:
            return False
        return RejectedRecord.objects.filter(last_run=self.run_record).exists()

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


class _NotEmpty(Exception):
    """The table a first load was to fill holds rows after all (written since it was looked at)."""


def _missing_parent(table, row, batch) -> rejects.Reject:
    """A staged record whose parent row is not in the database (a status whose model was not
    loaded, e.g. with ``--only statuses`` before models.json was ever loaded)."""
    pos, parent_key = row[0], row[1]
    item = batch.accepted.get(pos)
    position, raw = (item.position, item.raw) if item else batch.kept.get(pos, ("", None))
    if table is tables.STATUSES:
        key, what = f"{parent_key}@{row[2]}", "model"
        context = {"model_slug": parent_key}
    else:
        key, what = item.record_key if item else parent_key, "provider"
        context = {"provider_slug": parent_key}
    return rejects.Reject(
        entity=table.entity,
        record_key=key,
        file=source.FILE_OF_KIND[table.entity],
        location="",
        position=position,
        reason=(
            f"unknown {what} {parent_key!r}: not in the database (load its file first); "
            "retried by --retry-failed"
        ),
        field="",
        raw=raw,
        context=context,
    )
