"""The reject queue: records that could not be loaded, kept durably until a retry loads them."""

from __future__ import annotations

import dataclasses

from django.db.models import F
from django.utils import timezone

from migrator.models import BackfillRun, RejectedRecord


@dataclasses.dataclass
class Reject:
    entity: str
    record_key: str
    file: str
    location: str
    position: str
    reason: str
    field: str
    raw: object
    context: dict


def known_keys() -> dict[str, set[str]]:
    """The record keys in the queue now, by entity (to notice records that load at last)."""
    keys: dict[str, set[str]] = {}
    for entity, record_key in RejectedRecord.objects.values_list("entity", "record_key"):
        keys.setdefault(entity, set()).add(record_key)
    return keys


def rejects_store(rejects: list[Reject], *, run: BackfillRun) -> None:
    """Add ``rejects`` to the queue, or count another attempt for those already there."""
    if not rejects:
        return
    now = timezone.now()
    by_key = {(r.entity, r.record_key): r for r in rejects}
    stored = {
        (row.entity, row.record_key): row
        for entity in {r.entity for r in rejects}
        for row in RejectedRecord.objects.filter(
            entity=entity, record_key__in=[k for e, k in by_key if e == entity]
        )
    }
    RejectedRecord.objects.bulk_create(
        [
            RejectedRecord(
                entity=r.entity,
                record_key=r.record_key,
                file=r.file,
                location=r.location,
                position=r.position,
                field=r.field,
                reason=r.reason,
                raw=r.raw,
                context=r.context,
                first_run=run,
                last_run=run,
            )
            for key, r in by_key.items()
            if key not in stored
        ]
    )
    for entity in {entity for entity, _ in stored}:
        keys = [k for e, k in stored if e == entity]
        for start in range(0, len(keys), 5000):
            RejectedRecord.objects.filter(
                entity=entity, record_key__in=keys[start : start + 5000]
            ).update(attempts=F("attempts") + 1, last_run=run, last_seen=now)
    for key, row in stored.items():
        reject = by_key[key]
        changed = {
            name: getattr(reject, name)
            for name in ("reason", "field", "raw", "position", "location", "context")
            if getattr(row, name) != getattr(reject, name)
        }
        if changed:
            RejectedRecord.objects.filter(pk=row.pk).update(**changed)


def rejects_resolve(entity: str, record_keys: list[str]) -> int:
    """Drop from the queue the records that have now loaded; how many left it."""
    if not record_keys:
        return 0
    deleted, _ = RejectedRecord.objects.filter(entity=entity, record_key__in=record_keys).delete()
    return deleted
