"""Rows the export no longer holds: counted as absent, or archived then deleted (--prune).

A pruned row is kept whole in PrunedRow (with the run that pruned it), so that the admin can
show it and put it back (pruned_rows_restore, below).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Model, ModelStatus
from migrator import tables
from migrator.errors import MigratorError
from migrator.models import Entity, PrunedRow

DEFAULT_MAX_PERCENT = 50.0


class PruneRefused(MigratorError):
    """A prune that would delete more than an operator would expect (see the guard below)."""


def absent_and_prune(backfill, acceptance) -> None:
    """Rows the export no longer holds, for each entity read whole: counted as absent, or, with
    ``--prune``, archived in PrunedRow then deleted (statuses, then models, then providers).

    The guard: a prune that would delete more than ``--max-prune-percent`` of an entity's rows,
    or anything at all when the export holds no record of that entity, is refused (exit 2, nothing
    deleted) unless ``--force`` is given: one empty upstream export must not empty the catalog.
    """
    options = backfill.options
    gone = {}
    for entity in (Entity.STATUSES, Entity.MODELS, Entity.PROVIDERS):
        if entity not in backfill.loaded:
            continue
        table = tables.TABLES[entity]
        rows = tables.unseen(table, backfill.seen_ranges.get(entity, ()))
        if entity == Entity.PROVIDERS:
            # A provider some remaining model still uses stays (and is not counted as absent).
            rows = _unused_providers(rows, gone.get(Entity.MODELS, []))
        gone[entity] = rows
    if not options.prune:
        for entity, rows in gone.items():
            backfill.counts[entity].absent += len(rows)
        return
    # Statuses of models pruned in this run go with them: they are counted as pruned statuses.
    with_models = _statuses_of([row_id for row_id, _ in gone.get(Entity.MODELS, [])])
    seen_statuses = {row_id for row_id, _ in gone.get(Entity.STATUSES, [])}
    extra = [row for row in with_models if row[0] not in seen_statuses]
    if extra:
        gone[Entity.STATUSES] = [*gone.get(Entity.STATUSES, []), *extra]
    if with_models:
        backfill.notes.append(
            f"{len(with_models)} status(es) pruned with their models (the models left the export)"
        )
    _guard(backfill, gone)
    for entity in (Entity.STATUSES, Entity.MODELS, Entity.PROVIDERS):
        rows = gone.get(entity, [])
        backfill.counts[entity].pruned += len(rows)
        if rows and not options.dry_run:
            _archive_and_delete(backfill, entity, rows)


def _guard(backfill, gone: dict) -> None:
    options = backfill.options
    if options.force:
        return
    problems = []
    for entity, rows in gone.items():
        if not rows:
            continue
        total = tables.count(tables.TABLES[entity])
        share = 100.0 * len(rows) / total if total else 0.0
        accepted = backfill.counts[entity].inserted + backfill.counts[entity].updated
        accepted += backfill.counts[entity].unchanged
        if accepted == 0:
            problems.append(
                f"the export holds no {entity} and the prune would delete all "
                f"{len(rows)} {entity} rows"
            )
        elif share > options.max_prune_percent:
            problems.append(
                f"the prune would delete {len(rows)} of {total} {entity} rows ({share:.0f}%, "
                f"more than --max-prune-percent {options.max_prune_percent:g})"
            )
    if problems:
        raise PruneRefused(
            "prune refused, nothing deleted: "
            + "; ".join(problems)
            + ". The export's records are loaded. If the export is right, run again with --force "
            "(or a higher --max-prune-percent)."
        )


def _unused_providers(rows, models_gone) -> list:
    ids = [row_id for row_id, _ in rows]
    if not ids:
        return []
    leaving = {row_id for row_id, _ in models_gone}
    used = set()
    for start in range(0, len(ids), tables.CHUNK):
        chunk = ids[start : start + tables.CHUNK]
        used.update(
            Model.objects.filter(provider_id__in=chunk)
            .exclude(id__in=leaving)
            .values_list("provider_id", flat=True)
        )
    return [row for row in rows if row[0] not in used]


def _statuses_of(model_ids: list[int]) -> list:
    found = []
    for start in range(0, len(model_ids), tables.CHUNK):
        chunk = model_ids[start : start + tables.CHUNK]
        found += [
            (row_id, f"{slug}@{region}")
            for row_id, slug, region in ModelStatus.objects.filter(model_id__in=chunk)
            .order_by("id")
            .values_list("id", "model__slug", "region")
        ]
    return found


def _archive_and_delete(backfill, entity, rows) -> None:
    table = tables.TABLES[entity]
    keys = dict(rows)
    ids = [row_id for row_id, _ in rows]
    for start in range(0, len(ids), tables.CHUNK):
        chunk = ids[start : start + tables.CHUNK]
        with transaction.atomic():
            PrunedRow.objects.bulk_create(
                [
                    PrunedRow(
                        run=backfill.run_record,
                        entity=entity,
                        row=row,
                        natural_key=keys[row["id"]],
                    )
                    for row in tables.snapshot(table, chunk)
                ]
            )
            tables.delete(table, chunk)


RESTORE_ORDER = {Entity.PROVIDERS: 0, Entity.MODELS: 1, Entity.STATUSES: 2}


def instance_from(model, row: dict):
    """A model instance from an archived row (prune archive, before-images)."""
    values = {}
    for field in model._meta.concrete_fields:
        if field.attname in row:
            value = row[field.attname]
            values[field.attname] = None if value is None else field.to_python(value)
    return model(**values)


def pruned_rows_restore(*, pruned_rows: list[PrunedRow]) -> int:
    """Put archived rows back, as they were (ids and timestamps included); how many."""
    pending = sorted(
        (p for p in pruned_rows if p.restored_at is None), key=lambda p: RESTORE_ORDER[p.entity]
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            for pruned in pending:
                model = tables.TABLES[pruned.entity].model
                instance = instance_from(model, pruned.row)
                # bulk_create keeps the archived timestamps (save() would stamp them anew).
                model.objects.bulk_create([instance])
                pruned.restored_at = now
                pruned.save(update_fields=["restored_at"])
    except IntegrityError as exc:
        raise MigratorError(
            f"cannot restore: a row with the same key exists again, or its parent is gone ({exc})"
        ) from exc
    return len(pending)
