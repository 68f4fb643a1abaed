"""Lifetime traffic totals that never go down, for Prometheus counters.

The per-minute rows of live.counters are deleted after ``counters.RETENTION``; a counter read
from them alone would drop when they go, and Prometheus would take the drop for a restart. So
minutes older than ``FOLD_AFTER`` are folded (added) into one ``TrafficTotal`` row per store and
endpoint, and a mark row says up to which minute; a total is the folded rows plus the rows from
the mark on. Folding moves counts from one side to the other without changing the sum, and only
folded rows are ever deleted. Counts a worker writes for a minute after it was folded (a flush
that kept failing for more than ``FOLD_AFTER``) are left out of the totals, never counted twice.

API: :func:`fold` (run by each worker after its flushes, at most once a minute), :func:`lifetime`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections import Counter

from django.db import DatabaseError, transaction
from django.utils import timezone

from live.counters import BOUNDS, RETENTION, minute_of
from migrator.models import TrafficBucket, TrafficTotal

logger = logging.getLogger(__name__)

# Minutes older than this are folded: well past the guard's and the targets' windows (an hour at
# most), so the per-minute rows they read are still there.
FOLD_AFTER = dt.timedelta(hours=1)
_SUMMED = ("requests", "errors", "seconds", "store_seconds", "mismatches")


@dataclasses.dataclass
class Total:
    """Everything one store's endpoint served, since the start."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    store_seconds: float = 0.0
    mismatches: int = 0
    latency: list = dataclasses.field(default_factory=lambda: [0] * (len(BOUNDS) + 1))
    store_latency: list = dataclasses.field(default_factory=lambda: [0] * (len(BOUNDS) + 1))
    statuses: Counter = dataclasses.field(default_factory=Counter)
    fallbacks: Counter = dataclasses.field(default_factory=Counter)

    def add(self, row) -> None:
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(row, name))
        for name in ("latency", "store_latency"):
            mine = getattr(self, name)
            for index, count in enumerate((getattr(row, name) or [])[: len(mine)]):
                mine[index] += count
        self.statuses.update(row.statuses or {})
        self.fallbacks.update(row.fallbacks or {})


def _add_rows(into: dict, rows) -> None:
    for row in rows:
        into.setdefault((row.store, row.endpoint), Total()).add(row)


def lifetime() -> dict[tuple[str, str], Total]:
    """Totals per (store, endpoint) since the start, across every worker and instance."""
    folded = list(TrafficTotal.objects.all())  # the mark and the folded totals: one snapshot
    mark = next((row.through for row in folded if not row.store), None)
    totals: dict[tuple[str, str], Total] = {}
    _add_rows(totals, [row for row in folded if row.store])
    recent = (
        TrafficBucket.objects.all()
        if mark is None
        else TrafficBucket.objects.filter(minute__gte=mark)
    )
    _add_rows(totals, recent.iterator(chunk_size=2000))
    return totals


def fold(now: dt.datetime | None = None) -> int:
    """Fold the minutes older than FOLD_AFTER into the totals, then delete the folded rows older
    than RETENTION. Returns the number of rows folded."""
    now = now or timezone.now()
    upto = minute_of(now - FOLD_AFTER)
    with transaction.atomic():
        TrafficTotal.objects.get_or_create(store="", endpoint="")
        # Locking the mark makes concurrent folds (other workers, instances) take turns; the
        # second sees the mark the first moved, and folds nothing twice.
        mark = TrafficTotal.objects.select_for_update().get(store="", endpoint="")
        if mark.through is not None and mark.through >= upto:
            return 0
        rows = TrafficBucket.objects.filter(minute__lt=upto)
        if mark.through is not None:
            rows = rows.filter(minute__gte=mark.through)
        folded: dict[tuple[str, str], Total] = {}
        count = 0
        for row in rows.iterator(chunk_size=2000):
            folded.setdefault((row.store, row.endpoint), Total()).add(row)
            count += 1
        for (store, endpoint), extra in folded.items():
            row, _ = TrafficTotal.objects.get_or_create(store=store, endpoint=endpoint)
            total = Total()
            total.add(row)
            total.add(extra)
            for name in (*_SUMMED, "latency", "store_latency"):
                setattr(row, name, getattr(total, name))
            row.statuses, row.fallbacks = dict(total.statuses), dict(total.fallbacks)
            row.save()
        previous, mark.through = mark.through, upto
        mark.save(update_fields=["through"])
        if previous is not None:
            # Only below the previous mark: a scrape that read the totals just before this fold
            # commits still finds every row from the mark it read on.
            TrafficBucket.objects.filter(minute__lt=min(previous, now - RETENTION)).delete()
    return count


_folded_at = 0.0


def fold_now_and_then() -> None:
    """After a flush: fold at most once a minute per worker (a failure waits for the next)."""
    global _folded_at
    if time.monotonic() - _folded_at < 60:
        return
    _folded_at = time.monotonic()
    try:
        fold()
    except DatabaseError as exc:
        logger.warning("event=counters_unfolded error=%r", str(exc)[:200])
