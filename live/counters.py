"""Shared traffic counters: per store and endpoint, per minute, across every worker and instance.

One mechanism for everything that judges the service's traffic: the automatic-rollback guard,
the service targets (live.targets), /metrics (live.metrics) and the migration dashboard. Each
worker accumulates its counts in memory and writes its running totals for each minute to the
``TrafficBucket`` table every ``COUNTERS_FLUSH_SECONDS`` (an upsert of the rows it owns: no
read-modify-write race, and a flush that fails is simply done again later). Readers sum the
rows of every worker, so a window query sees the whole service, with the default configuration
(no Redis, no extra process).

Latencies are kept as a histogram with fixed bounds (:data:`BOUNDS`), which can be summed across
workers; a percentile is read from the summed histogram (the upper bound of its bucket: a p95
that errs on the slow side, never the fast one).

Lifetime totals (Prometheus counters, which must never go down) are in live.totals.

API: :func:`record`, :func:`record_mismatch`, :func:`flush`, :func:`window`, :func:`minutes`.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Sum
from django.utils import timezone

from migrator.models import TrafficBucket

logger = logging.getLogger(__name__)

# Upper bounds of the latency buckets, in seconds; the last bucket is everything above.
BOUNDS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    30.0,
)
# Rows are folded into lifetime totals, then deleted after RETENTION (live.totals).
RETENTION = dt.timedelta(days=2)


def _worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclasses.dataclass
class _Bucket:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latency: list = dataclasses.field(default_factory=lambda: [0] * (len(BOUNDS) + 1))
    statuses: Counter = dataclasses.field(default_factory=Counter)
    fallbacks: Counter = dataclasses.field(default_factory=Counter)
    mismatches: int = 0
    store_seconds: float = 0.0
    store_latency: list = dataclasses.field(default_factory=lambda: [0] * (len(BOUNDS) + 1))


@dataclasses.dataclass(frozen=True)
class Window:
    """The whole service's reads of one store over a recent window."""

    store: str
    seconds: float
    requests: int
    errors: int
    p95_seconds: float | None
    mismatches: int
    fallbacks: dict

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self) | {"error_rate": self.error_rate}


def minute_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


class Counters:
    """This worker's counts not yet written, and the flushing of them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._buckets: dict[tuple, _Bucket] = {}
        self._dirty: set[tuple] = set()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._worker = _worker_name()

    @property
    def worker(self) -> str:
        """This process's name in the table (a forked child gets its own)."""
        if os.getpid() != self._pid:
            self._pid, self._worker = os.getpid(), _worker_name()
        return self._worker

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._dirty.clear()

    def _bucket(self, store: str, endpoint: str) -> tuple[tuple, _Bucket]:
        key = (minute_of(timezone.now()), store, endpoint[:64])
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket()
        self._dirty.add(key)
        return key, bucket

    def record(
        self,
        store: str,
        endpoint: str,
        status: int,
        seconds: float,
        *,
        error: bool = False,
        fallback: str | None = None,
        store_seconds: float | None = None,
    ) -> None:
        """One read routed to ``store``: its HTTP status, whole-response time, whether the store
        failed (``error``), if another store answered ``fallback`` ("from->to:category"), and
        the time the call to ``store`` itself took (``store_seconds``)."""
        with self._lock:
            _, bucket = self._bucket(store, endpoint)
            bucket.requests += 1
            bucket.errors += int(error)
            bucket.seconds += seconds
            bucket.latency[bisect.bisect_left(BOUNDS, seconds)] += 1
            if store_seconds is not None:
                bucket.store_seconds += store_seconds
                bucket.store_latency[bisect.bisect_left(BOUNDS, store_seconds)] += 1
            bucket.statuses[str(status)] += 1
            if fallback:
                bucket.fallbacks[fallback] += 1
        self._after_record()

    def record_mismatch(self, store: str) -> None:
        """A shadow read found ``store`` answering differently from the serving store."""
        with self._lock:
            _, bucket = self._bucket(store, "shadow")
            bucket.mismatches += 1
        self._after_record()

    def _after_record(self) -> None:
        if settings.COUNTERS_IN_BACKGROUND:
            self._start()
        elif self.flush():
            self._notify()

    def _notify(self) -> None:
        for callback in _subscribers:
            callback()

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="traffic-counters", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(settings.COUNTERS_FLUSH_SECONDS)
            try:
                if self.flush():
                    self._notify()
            except Exception:  # the flusher must outlive any one failure
                logger.exception("event=counters_flush_failed")
            finally:
                connection.close()

    def flush(self) -> bool:
        """Write this worker's changed minutes (running totals); True when all were written."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            rows = [self._row(key, self._buckets[key]) for key in dirty]
            # Minutes that can no longer change are kept only until they are written.
            current = minute_of(timezone.now())
            for key in [k for k in self._buckets if k[0] < current and k not in dirty]:
                del self._buckets[key]
        if not rows:
            return True
        try:
            TrafficBucket.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["minute", "worker", "store", "endpoint"],
                update_fields=[
                    "requests",
                    "errors",
                    "seconds",
                    "latency",
                    "statuses",
                    "fallbacks",
                    "mismatches",
                    "store_seconds",
                    "store_latency",
                ],
            )
        except DatabaseError as exc:
            with self._lock:  # written next time (the totals only grow meanwhile)
                self._dirty |= dirty
            logger.warning("event=counters_unwritten rows=%s error=%r", len(rows), str(exc)[:200])
            return False
        return True

    def _row(self, key, bucket: _Bucket) -> TrafficBucket:
        minute, store, endpoint = key
        return TrafficBucket(
            minute=minute,
            worker=self.worker,
            store=store,
            endpoint=endpoint,
            requests=bucket.requests,
            errors=bucket.errors,
            seconds=bucket.seconds,
            latency=list(bucket.latency),
            statuses=dict(bucket.statuses),
            fallbacks=dict(bucket.fallbacks),
            mismatches=bucket.mismatches,
            store_seconds=bucket.store_seconds,
            store_latency=list(bucket.store_latency),
        )


_subscribers: list = []


def after_flush(callback) -> None:
    """Call ``callback()`` after each successful flush of this worker (e.g. the guard)."""
    if callback not in _subscribers:
        _subscribers.append(callback)


counters = Counters()
record = counters.record
record_mismatch = counters.record_mismatch
flush = counters.flush


def _since(seconds: float, since: dt.datetime | None = None) -> dt.datetime:
    # Whole minutes: the window covers at least ``seconds`` and at most a minute more.
    start = timezone.now() - dt.timedelta(seconds=seconds)
    if since is not None and since > start:
        start = since
    return minute_of(start)


def window(store: str, seconds: float, *, since: dt.datetime | None = None) -> Window:
    """The whole service's reads of ``store`` in the minutes covering the last ``seconds``
    (and not before the minute of ``since``, e.g. the last change of the state)."""
    rows = TrafficBucket.objects.filter(store=store, minute__gte=_since(seconds, since))
    totals = rows.aggregate(
        requests=Sum("requests"), errors=Sum("errors"), mismatches=Sum("mismatches")
    )
    histogram = [0] * (len(BOUNDS) + 1)
    fallbacks: Counter = Counter()
    for latency, fallback in rows.values_list("latency", "fallbacks"):
        for index, count in enumerate(latency[: len(histogram)]):
            histogram[index] += count
        fallbacks.update(fallback)
    return Window(
        store=store,
        seconds=seconds,
        requests=totals["requests"] or 0,
        errors=totals["errors"] or 0,
        p95_seconds=percentile(histogram, 0.95),
        mismatches=totals["mismatches"] or 0,
        fallbacks=dict(fallbacks),
    )


def percentile(histogram: list[int], fraction: float) -> float | None:
    """The upper bound of the bucket holding that fraction of the counts (inf past the last)."""
    total = sum(histogram)
    if not total:
        return None
    rank, seen = fraction * total, 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return BOUNDS[index] if index < len(BOUNDS) else float("inf")
    return float("inf")  # pragma: no cover - seen reaches total


def minutes(store: str, count: int) -> list[dict]:
    """Per-minute totals of ``store`` over the last ``count`` minutes, oldest first (for
    dashboards): requests, errors, p95 and fallbacks of each minute across every worker."""
    by_minute: dict[dt.datetime, dict] = {}
    rows = TrafficBucket.objects.filter(store=store, minute__gte=_since(count * 60)).order_by(
        "minute"
    )
    for row in rows:
        entry = by_minute.setdefault(
            row.minute,
            {"requests": 0, "errors": 0, "histogram": [0] * (len(BOUNDS) + 1), "fallbacks": {}},
        )
        entry["requests"] += row.requests
        entry["errors"] += row.errors
        for index, n in enumerate(row.latency[: len(BOUNDS) + 1]):
            entry["histogram"][index] += n
        for name, n in row.fallbacks.items():
            entry["fallbacks"][name] = entry["fallbacks"].get(name, 0) + n
    return [
        {
            "minute": minute,
            "requests": e["requests"],
            "errors": e["errors"],
            "p95_seconds": percentile(e["histogram"], 0.95),
            "fallbacks": e["fallbacks"],
        }
        for minute, e in by_minute.items()
    ]
