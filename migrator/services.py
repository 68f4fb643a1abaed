"""Writes of the migrator's own records that admins and commands trigger."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from migrator.errors import MigratorError
from migrator.models import Entity, PrunedRow
from migrator.tables import TABLES

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
                model = TABLES[pruned.entity].model
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
