"""copy_database's work: make one database hold what another holds, ids and all.

Copied, in this order (parents first): the catalog (providers, models, statuses) and the
migrator's and the live switch's own records — backfill runs, the kept export envelopes, the
model aliases, the reject queue, pruned rows
(the prune archive), the rows each run inserted and the before- and after-images of the rows it
updated, validation runs, the backend state row, the audit log, dead letters and
pending secondary writes. Not copied: what the target derives or counts for itself (the catalog
version and the per-model status summary, kept by the target's triggers; traffic buckets, write
and shadow counters, shadow mismatch examples, the lifetime traffic totals and target
breaches), the target's own migration log and schema checks,
and users and sessions (create an admin on the target with ``ensure_admin``).

Each table is read in primary-key order in batches and written with its ids (an upsert on the
id, with the stored values as they are: timestamps are not stamped anew), so a second run finds
every row unchanged and writes nothing. Rows the target holds that the source does not are
counted as ``extra`` and left alone, or deleted with ``delete_extra`` (children first).
PostgreSQL sequences are moved past the copied ids at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from django.core.management import call_command
from django.core.management.color import no_style
from django.db import IntegrityError, connections, transaction
from django.db.models.constants import OnConflict

from catalog.models import Model, ModelStatus, Provider
from migrator import databases
from migrator.equality import values_equal
from migrator.errors import MigratorError, first_line
from migrator.models import (
    AuditEntry,
    BackendState,
    BackfillRun,
    DeadLetter,
    ExportEnvelope,
    InsertedRows,
    ModelAlias,
    PendingWrite,
    PrunedRow,
    RejectedRecord,
    RowImage,
    ValidationRun,
)
from migrator.runs import Throughput

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000

# (name in the summary, model); parents before children.
COPIED = (
    ("providers", Provider),
    ("models", Model),
    ("statuses", ModelStatus),
    ("backfill runs", BackfillRun),
    ("export envelopes", ExportEnvelope),
    ("model aliases", ModelAlias),
    ("inserted rows", InsertedRows),
    ("row images", RowImage),
    ("rejected records", RejectedRecord),
    ("pruned rows", PrunedRow),
    ("validation runs", ValidationRun),
    ("backend state", BackendState),
    ("audit entries", AuditEntry),
    ("dead letters", DeadLetter),
    ("pending writes", PendingWrite),
)


@dataclasses.dataclass
class TableCounts(Throughput):
    table: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    extra: int = 0
    deleted: int = 0
    seconds: float = 0.0


@dataclasses.dataclass
class CopyResult:
    source: str
    target: str
    tables: list[TableCounts]
    backup: object | None = None  # migrator.backups.Backup
    seconds: float = 0.0

    def totals(self) -> TableCounts:
        total = TableCounts("total")
        for counts in self.tables:
            for name in ("read", "inserted", "updated", "unchanged", "extra", "deleted"):
                setattr(total, name, getattr(total, name) + getattr(counts, name))
            total.seconds += counts.seconds
        return total

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "target": self.target,
            "backup": self.backup.as_dict() if self.backup else None,
            "tables": {c.table: c.as_dict() for c in self.tables},
            "total": self.totals().as_dict(),
            "seconds": round(self.seconds, 3),
        }


def database_copy(
    *,
    source: str,
    target: str,
    delete_extra: bool = False,
    batch_size: int = BATCH_SIZE,
    migrate: bool = True,
    progress=None,
) -> CopyResult:
    """Copy every table of COPIED from the ``source`` alias to the ``target`` alias."""
    started = time.perf_counter()
    pending = _pending_migrations(source)
    if pending:
        raise MigratorError(
            f"the source database is behind this release's schema ({len(pending)} migration(s) "
            f"not applied, e.g. {pending[0]}): run `manage.py migrate` against it first (with "
            "its URL as DATABASE_URL), or copy with the release that wrote it"
        )
    if migrate:
        call_command("migrate", database=target, interactive=False, verbosity=0)
    result = CopyResult(source=source, target=target, tables=[])
    extras = {}
    for name, model in COPIED:
        counts = TableCounts(name)
        result.tables.append(counts)
        begun = time.perf_counter()
        extras[name] = _copy_table(model, source, target, counts, batch_size)
        counts.seconds = time.perf_counter() - begun
        if progress:
            progress(counts)
    if delete_extra:
        for name, model in reversed(COPIED):
            ids = extras[name]
            counts = next(c for c in result.tables if c.table == name)
            for start in range(0, len(ids), batch_size):
                chunk = ids[start : start + batch_size]
                with transaction.atomic(using=target):
                    model._base_manager.using(target).filter(pk__in=chunk).delete()
                counts.deleted += len(chunk)
    _reset_sequences(target)
    result.seconds = time.perf_counter() - started
    return result


def _pending_migrations(alias: str) -> list[str]:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]


def copied_tables_clear(alias: str) -> None:
    """Delete every row of the copied tables in ``alias`` (children first), in one transaction:
    restore_db --force of a logical snapshot starts from this."""
    with transaction.atomic(using=alias):
        for _name, model in reversed(COPIED):
            model._base_manager.using(alias).all().delete()


def _copy_table(model, source: str, target: str, counts: TableCounts, batch_size: int) -> list:
    """Copy one table in id order; the ids the target holds and the source does not."""
    others = [f for f in model._meta.concrete_fields if not f.primary_key]
    target_rows = model._base_manager.using(target)
    target_empty = not target_rows.exists()
    rows = model._base_manager.using(source).order_by("pk").iterator(chunk_size=batch_size)
    extra_ids: list = []
    batch: list = []
    previous = None  # the last id of the batch before: the target's ids in between are extra

    def flush(batch, last: bool):
        nonlocal previous
        low, high = previous, batch[-1].pk if batch else None
        stored = {}
        if not target_empty:
            window = target_rows.all()
            if low is not None:
                window = window.filter(pk__gt=low)
            if not last and high is not None:
                window = window.filter(pk__lte=high)
            stored = {row.pk: row for row in window.order_by("pk")}
        changed = []
        for row in batch:
            counts.read += 1
            mine = stored.pop(row.pk, None)
            if mine is None:
                counts.inserted += 1
                changed.append(row)
            elif all(
                values_equal(getattr(row, f.attname), getattr(mine, f.attname)) for f in others
            ):
                counts.unchanged += 1
            else:
                counts.updated += 1
                changed.append(row)
        extra_ids.extend(stored)
        counts.extra += len(stored)
        if changed:
            upsert_rows(model, target, changed)
        if batch:
            previous = high
        # With DEBUG on, Django logs every query with its parameters: a copy of millions of
        # rows would keep hundreds of megabytes of INSERT text.
        connections[target].queries_log.clear()
        connections[source].queries_log.clear()

    with _reading(source):
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_size:
                flush(batch, last=False)
                batch = []
    flush(batch, last=True)
    return extra_ids


def upsert_rows(model, target: str, rows: list) -> None:
    """Write ``rows`` (model instances) into ``target`` with their ids: inserted, or written
    over the row with the same id; every column as given (timestamps not stamped anew)."""
    fields = model._meta.concrete_fields
    pk = model._meta.pk
    others = [f for f in fields if not f.primary_key]
    connection = connections[target]
    size = max(connection.ops.bulk_batch_size(fields, rows), 1)
    manager = model._base_manager.using(target)
    try:
        with transaction.atomic(using=target):
            for start in range(0, len(rows), size):
                # raw=True: the stored values as they are (auto_now timestamps not stamped anew).
                manager._insert(
                    rows[start : start + size],
                    fields=fields,
                    raw=True,
                    using=target,
                    on_conflict=OnConflict.UPDATE,
                    update_fields=others,
                    unique_fields=[pk],
                )
    except IntegrityError as exc:
        raise MigratorError(
            f"{model._meta.db_table}: the target already holds other rows under the same unique "
            f"key ({first_line(exc)}). Copy into an empty database, or restore the target from "
            "a backup of the source (restore_db)."
        ) from exc


def _reset_sequences(alias: str) -> None:
    connection = connections[alias]
    statements = connection.ops.sequence_reset_sql(no_style(), [m for _, m in COPIED])
    if statements:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def _reading(alias: str):
    """A transaction on PostgreSQL: one snapshot, a server-side cursor without WITH HOLD."""
    if databases.vendor_of(alias) == "postgresql":
        return transaction.atomic(using=alias)
    import contextlib

    return contextlib.nullcontext()
