"""What a backfill run changed, kept so that it can be undone: ``backfill_json --undo RUN``.

A run keeps, in the same transaction as each batch it writes: the ids of the rows it inserted (as
ranges: a first load keeps one small row a batch, nothing per row) and the whole row before and
after each update (RowImage). Rows it pruned are in the prune archive already (PrunedRow). Undo
deletes the inserted rows (children first), puts the pruned rows and the before-images back
(parents first), ids and timestamps as they were, in one transaction, recorded as a run of its
own (``undoes`` names the run undone).
"""

from __future__ import annotations

import dataclasses

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from migrator import tables
from migrator.database_copy import upsert_rows
from migrator.errors import MigratorError, first_line
from migrator.models import BackfillRun, Entity, InsertedRows, PrunedRow, RowImage
from migrator.prune import instance_from
from migrator.runs import operator_name

PARENTS_FIRST = (Entity.PROVIDERS, Entity.MODELS, Entity.STATUSES)


def id_ranges(ids: list[int]) -> list[list[int]]:
    """``[[first, last], ...]`` covering exactly ``ids``."""
    ranges: list[list[int]] = []
    for row_id in sorted(ids):
        if ranges and row_id == ranges[-1][1] + 1:
            ranges[-1][1] = row_id
        else:
            ranges.append([row_id, row_id])
    return ranges


def inserted_keep(run: BackfillRun, table, ids: list[int]) -> None:
    if ids:
        InsertedRows.objects.create(
            run=run, entity=table.entity, id_ranges=id_ranges(ids), count=len(ids)
        )


def inserted_ranges_keep(run: BackfillRun, table, ranges: list[list[int]], count: int) -> None:
    """The rows a first load inserted, as the id ranges the table holds once it is done."""
    if count:
        InsertedRows.objects.create(run=run, entity=table.entity, id_ranges=ranges, count=count)


def updated_keep(run: BackfillRun, table, before: list[dict], after: list[dict]) -> None:
    after_by_id = {row["id"]: row for row in after}
    RowImage.objects.bulk_create(
        [
            RowImage(
                run=run,
                entity=table.entity,
                row_id=row["id"],
                before=row,
                after=after_by_id.get(row["id"], {}),
            )
            for row in before
        ],
        batch_size=1000,
    )


@dataclasses.dataclass
class UndoResult:
    run: BackfillRun
    undone: BackfillRun
    counts: dict[str, dict[str, int]]

    def as_dict(self) -> dict:
        return {"run": self.run.pk, "undoes": self.undone.pk, "entities": self.counts}


def _later_writing_runs(target: BackfillRun) -> list[int]:
    """Runs after ``target`` that wrote rows and are not undone: undoing ``target`` first would
    put back values they replaced since. A later run and its undo cancel out."""
    later = BackfillRun.objects.filter(pk__gt=target.pk, dry_run=False, undone_by__isnull=True)
    return [
        run.pk
        for run in later.order_by("pk")
        if (run.undoes_id is not None and run.undoes_id < target.pk)
        or run.row_images.exists()
        or run.inserted_rows.exists()
        or run.pruned_rows.exists()
    ]


def backfill_run_undo(*, run_id: int, actor: str = "", force: bool = False) -> UndoResult:
    """Undo backfill run ``run_id``: its inserts deleted, its updates and prunes put back."""
    target = BackfillRun.objects.filter(pk=run_id).first()
    if target is None:
        raise MigratorError(f"no backfill run #{run_id} (admin: Backfill runs lists them)")
    if target.dry_run:
        raise MigratorError(f"backfill run #{run_id} was a dry run: it changed nothing")
    if target.outcome == BackfillRun.Outcome.RUNNING:
        raise MigratorError(f"backfill run #{run_id} is still running: wait for it to finish")
    if target.undoes_id is not None:
        raise MigratorError(
            f"run #{run_id} is itself an undo (of run #{target.undoes_id}); it keeps no images: "
            "restore a backup taken before it instead (restore_db)"
        )
    done = BackfillRun.objects.filter(undoes=target).first()
    if done is not None:
        raise MigratorError(f"backfill run #{run_id} was undone already, by run #{done.pk}")
    later = _later_writing_runs(target)
    if later and not force:
        raise MigratorError(
            f"backfill run(s) {', '.join(f'#{pk}' for pk in later)} wrote rows after run "
            f"#{run_id}: undo them first, newest first (or --force to put run #{run_id}'s "
            "before-images back over their changes)"
        )
    record = BackfillRun.objects.create(
        actor=operator_name(actor),
        arguments={"undo": run_id, "force": force},
        undoes=target,
    )
    counts = {e: {"deleted": 0, "restored": 0, "unpruned": 0} for e in PARENTS_FIRST}
    try:
        with transaction.atomic():
            for entity in reversed(PARENTS_FIRST):
                counts[entity]["deleted"] = _delete_inserted(target, entity)
            now = timezone.now()
            for entity in PARENTS_FIRST:
                counts[entity]["unpruned"] = _unprune(target, entity, now)
                counts[entity]["restored"] = _put_back(target, entity)
    except BaseException as exc:
        # Rolled back: the attempt is recorded as failed and no longer counts as run_id's undo
        # (``undoes`` cleared; ``arguments`` still name the run), so it can be tried again.
        record.outcome = BackfillRun.Outcome.FAILED
        record.undoes = None
        record.error = first_line(exc)
        record.finished_at = timezone.now()
        record.save()
        if not isinstance(exc, IntegrityError | ProtectedError | MigratorError):
            raise
        raise MigratorError(
            f"cannot undo run #{run_id}: {first_line(exc)}; nothing was changed"
        ) from exc
    record.outcome = BackfillRun.Outcome.SUCCEEDED
    record.counts = {
        entity: {"inserted": c["unpruned"], "updated": c["restored"], "pruned": c["deleted"]}
        for entity, c in counts.items()
    }
    record.finished_at = timezone.now()
    record.save()
    return UndoResult(run=record, undone=target, counts=counts)


def _delete_inserted(target: BackfillRun, entity: str) -> int:
    model = tables.TABLES[entity].model
    deleted = 0
    for kept in InsertedRows.objects.filter(run=target, entity=entity):
        for first, last in kept.id_ranges:
            # Deleting a model takes its statuses with it (CASCADE), as a prune does.
            rows = model.objects.filter(pk__gte=first, pk__lte=last)
            deleted += rows.count()
            rows.delete()
    return deleted


def _unprune(target: BackfillRun, entity: str, now) -> int:
    model = tables.TABLES[entity].model
    pending = PrunedRow.objects.filter(run=target, entity=entity, restored_at__isnull=True)
    rows = [instance_from(model, pruned.row) for pruned in pending]
    if rows:
        upsert_rows(model, "default", rows)
        pending.update(restored_at=now)
    return len(rows)


def _put_back(target: BackfillRun, entity: str) -> int:
    model = tables.TABLES[entity].model
    images = RowImage.objects.filter(run=target, entity=entity).order_by("pk")
    restored = 0
    batch = []
    for image in images.iterator(chunk_size=2000):
        batch.append(instance_from(model, image.before))
        if len(batch) >= 2000:
            upsert_rows(model, "default", batch)
            restored += len(batch)
            batch = []
    if batch:
        upsert_rows(model, "default", batch)
        restored += len(batch)
    return restored
