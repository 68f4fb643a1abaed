"""validate_migration --against-database: compare the configured database with another one.

Both databases are read in natural-key order (providers and models by slug, statuses by model
slug then region; code point order on both, ``COLLATE "C"`` on PostgreSQL, SQLite's own binary
order) and merged like two sorted files: one row of each side in memory at a time, whatever the
size. A key only on the other side is *missing* here, one only here is *extra*, a key on both
is compared column by column (the field table's columns, the parent's natural key and every
``metadata`` key), with the same semantic equality and the same report as the export comparison.
"""

from __future__ import annotations

import logging
import time

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Collate
from django.utils import timezone

from catalog.fields import MODEL_COLUMNS, PROVIDER_COLUMNS, STATUS_COLUMNS
from catalog.models import Model, ModelStatus, Provider
from migrator import databases
from migrator.errors import MigratorError
from migrator.models import Entity, ValidationRun
from migrator.runs import operator_name
from migrator.validate import DIFFERENCE_CAP, changes_between, integrity_checks
from migrator.validation_report import ENTITIES, Difference, EntityResult, Options, Report

logger = logging.getLogger(__name__)

CHUNK = 2000

# entity -> (model, key columns, compared columns): the key is the natural key, in that order.
SHAPES = {
    Entity.PROVIDERS: (Provider, ("slug",), tuple(c for c in PROVIDER_COLUMNS if c != "slug")),
    Entity.MODELS: (
        Model,
        ("slug",),
        ("provider__slug", *(c for c in MODEL_COLUMNS if c != "slug")),
    ),
    Entity.STATUSES: (
        ModelStatus,
        ("model__slug", "region"),
        tuple(c for c in STATUS_COLUMNS if c != "region"),
    ),
}
# What the report calls the parent's key column.
_NAMES = {"provider__slug": "provider"}


class OutOfOrder(MigratorError):
    """A database returned keys out of the order the merge relies on."""


def ordered_rows(alias: str, entity: str):
    """``(key, {column: value})`` for every row of ``entity`` in ``alias``, in key order."""
    model, key, columns = SHAPES[entity]
    postgres = databases.vendor_of(alias) == "postgresql"
    order = [Collate(F(c), "C") if postgres else F(c).asc() for c in key]
    rows = (
        model.objects.using(alias)
        .order_by(*order)
        .values_list(*key, *columns)
        .iterator(chunk_size=CHUNK)
    )
    width = len(key)
    previous = None
    for row in rows:
        row_key = tuple(row[:width])
        if previous is not None and row_key <= previous:
            raise OutOfOrder(
                f"{entity}: the {alias.rsplit('_', 1)[0]} database returned {row_key!r} after "
                f"{previous!r}; the "
                "comparison needs key order (a collation other than C/binary on a key column?)"
            )
        previous = row_key
        yield row_key, {_NAMES.get(c, c): v for c, v in zip(columns, row[width:], strict=True)}


def _merged(theirs, ours):
    """Pairs ``(key, their row or None, our row or None)`` of two key-ordered streams."""
    end = object()
    a, b = next(theirs, end), next(ours, end)
    while a is not end or b is not end:
        if b is end or (a is not end and a[0] < b[0]):
            yield a[0], a[1], None
            a = next(theirs, end)
        elif a is end or b[0] < a[0]:
            yield b[0], None, b[1]
            b = next(ours, end)
        else:
            yield a[0], a[1], b[1]
            a, b = next(theirs, end), next(ours, end)


def _shown_key(entity: str, key: tuple) -> str:
    return f"{key[0]}@{key[1]}" if entity == Entity.STATUSES else key[0]


class DatabaseComparison:
    """Compare the database ``ours`` (the configured one by default) with another: the one at
    ``url``, or the open alias ``theirs``. The run is recorded in ``ours`` unless ``record`` is
    false (copy_database: its target must stay a copy of the source)."""

    def __init__(
        self,
        options: Options,
        url: str | None = None,
        *,
        ours: str = "default",
        theirs: str | None = None,
        shown: str | None = None,
        record: bool = True,
    ):
        self.options = options
        self.url = url
        self.ours = ours
        self.theirs = theirs
        self.shown = shown or databases.shown(url)
        self.record = record
        self.results = {entity: EntityResult(entity) for entity in ENTITIES}
        self.differences: list[Difference] = []
        self.difference_count = 0
        self.integrity: dict[str, int] = {}

    def run(self) -> Report:
        shown = self.shown
        run = ValidationRun(
            actor=operator_name(self.options.actor),
            arguments={
                "against_database": shown,
                "entities": sorted(self.options.entities),
                "float_tolerance": self.options.float_tolerance,
            },
        )
        if self.record:
            run.save(using=self.ours)
        try:
            with self._other() as other:
                for entity in ENTITIES:
                    if entity in self.options.entities:
                        self._compare(entity, other)
                self._integrity(other)
        except Exception as exc:
            run.error = str(exc)
            run.finished_at = timezone.now()
            if self.record:
                run.save(using=self.ours)
            logger.error("event=validation_failed run=%s error=%r", run.pk, str(exc))
            raise
        passed = self.difference_count == 0
        run.finished_at = timezone.now()
        run.passed = passed
        # Never "complete": a switch to the database needs a passing comparison with the export.
        run.complete = False
        run.counts = {e: r.as_dict(strict=False) for e, r in self.results.items()}
        run.differences = [d.as_dict() for d in self.differences[: max(self.options.limit, 100)]]
        if self.record:
            run.save(using=self.ours)
        logger.info(
            "event=validation_finished run=%s passed=%s against=%s differences=%s",
            run.pk,
            passed,
            shown,
            self.difference_count,
        )
        return Report(
            run=run,
            options=self.options,
            files=[],
            entities=self.results,
            differences=self.differences,
            difference_count=self.difference_count,
            integrity=self.integrity,
            warnings={},
            warning_examples=[],
            known_rejects=[],
            against=shown,
        )

    def _other(self):
        if self.theirs is not None:
            import contextlib

            return contextlib.nullcontext(self.theirs)
        return databases.opened(self.url, role="other")

    def _compare(self, entity: str, other: str) -> None:
        result = self.results[entity]
        result.checked = True
        started = time.perf_counter()
        tolerance = self.options.float_tolerance
        with _reading(other), _reading(self.ours):
            pairs = _merged(ordered_rows(other, entity), ordered_rows(self.ours, entity))
            for key, theirs, ours in pairs:
                shown = _shown_key(entity, key)
                if theirs is not None:
                    result.in_export += 1
                if ours is not None:
                    result.in_database += 1
                if ours is None:
                    result.missing += 1
                    self._record(Difference("missing", entity, shown))
                elif theirs is None:
                    result.extra += 1
                    self._record(Difference("extra", entity, shown))
                else:
                    changes = changes_between(entity, theirs, ours, tolerance=tolerance)
                    if changes:
                        result.changed += 1
                        self._record(Difference("changed", entity, shown, changes))
                    else:
                        result.matched += 1
        result.seconds += time.perf_counter() - started

    def _integrity(self, other: str) -> None:
        for alias, label in ((self.ours, "database"), (other, "other database")):
            for name, found in integrity_checks(alias).items():
                named = name if alias == self.ours else f"{name} (other database)"
                self.integrity[named] = found
                if found:
                    self._record(Difference("integrity", label, name, detail=f"{found} found"))

    def _record(self, difference: Difference) -> None:
        self.difference_count += 1
        if len(self.differences) < DIFFERENCE_CAP:
            self.differences.append(difference)


def _reading(alias: str):
    """A transaction on PostgreSQL (a server-side cursor without WITH HOLD, one snapshot);
    SQLite streams from its cursor as it is (a transaction there would take the write lock)."""
    if databases.vendor_of(alias) == "postgresql":
        return transaction.atomic(using=alias)
    import contextlib

    return contextlib.nullcontext()
