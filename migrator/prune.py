"""Rows the export no longer holds: counted as absent, or archived then deleted (--prune).

A pruned row is kept whole in PrunedRow (with the run that pruned it), so that the admin can
show it and put it back (pruned_rows_restore, below).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Model, ModelStatus, Provider
from migrator import tables
from migrator.errors import MigratorError
from migrator.models import Entity, PrunedRow


def absent(backfill, entity, table, ids):
    """Rows of ``table`` the export no longer holds: counted, or (``--prune``) archived in
    PrunedRow and deleted."""
    if not ids:
        return
    counts = backfill.counts[entity]
    if not backfill.options.prune:
        counts.absent += len(ids)
        return
    counts.pruned += len(ids)
    if backfill.options.dry_run:
        return
    rows = tables.snapshot(table, ids)
    slugs = {}
    if entity == Entity.STATUSES:
        slugs = dict(
            Model.objects.filter(id__in={r["model_id"] for r in rows}).values_list("id", "slug")
        )
    PrunedRow.objects.bulk_create(
        [
            PrunedRow(
                run=backfill.run_record,
                entity=entity,
                row=r,
                natural_key=f"{slugs[r['model_id']]}@{r['region']}"
                if entity == Entity.STATUSES
                else r["slug"],
            )
            for r in rows
        ]
    )
    tables.delete(table, ids)


def absent_and_prune(backfill, complete: set[str]):
    """Rows the export no longer holds: statuses, then models, then providers."""
    if Entity.STATUSES in complete:
        with_status = set(ModelStatus.objects.values_list("model_id", flat=True).distinct())
        gone = sorted(with_status - backfill.status_models_in_file)
        for start in range(0, len(gone), 1000):
            ids = list(
                ModelStatus.objects.filter(model_id__in=gone[start : start + 1000]).values_list(
                    "id", flat=True
                )
            )
            with transaction.atomic():
                absent(backfill, Entity.STATUSES, tables.STATUSES, ids)
    if Entity.MODELS in complete:
        gone = [
            row_id
            for slug, row_id in Model.objects.values_list("slug", "id")
            if slug not in backfill.model_slugs_in_file
        ]
        with transaction.atomic():
            if backfill.options.prune and gone:
                statuses = list(
                    ModelStatus.objects.filter(model_id__in=gone).values_list("id", flat=True)
                )
                absent(backfill, Entity.STATUSES, tables.STATUSES, statuses)
            absent(backfill, Entity.MODELS, tables.MODELS, gone)
    if Entity.PROVIDERS in complete:
        wanted = backfill.provider_slugs_in_file | backfill.embedded_providers
        gone = [
            row_id
            for slug, row_id in Provider.objects.values_list("slug", "id")
            if slug not in wanted
        ]
        in_use = set(
            Model.objects.filter(provider_id__in=gone).values_list("provider_id", flat=True)
        )
        with transaction.atomic():
            backfill.counts[Entity.PROVIDERS].absent += len(in_use)
            absent(
                backfill,
                Entity.PROVIDERS,
                tables.PROVIDERS,
                [row_id for row_id in gone if row_id not in in_use],
            )


RESTORE_ORDER = {Entity.PROVIDERS: 0, Entity.MODELS: 1, Entity.STATUSES: 2}


def _instance(model, row: dict):
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
                instance = _instance(model, pruned.row)
                # bulk_create keeps the archived timestamps (save() would stamp them anew).
                model.objects.bulk_create([instance])
                pruned.restored_at = now
                pruned.save(update_fields=["restored_at"])
    except IntegrityError as exc:
        raise MigratorError(
            f"cannot restore: a row with the same key exists again, or its parent is gone ({exc})"
        ) from exc
    return len(pending)
