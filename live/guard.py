"""Automatic rollback: watch the reads the database serves, roll back when they go bad.

Each worker keeps a sliding window of the reads routed to the database (served, or failed over
to JSON) and of shadow mismatches. With auto-rollback on, crossing a threshold (error rate,
p95 latency, mismatches; DEFAULT_THRESHOLDS in runtime.py) moves reads back to JSON at once and
writes the reason in the audit log. The first worker to notice does it; the others see the new
state within a second.
"""

from __future__ import annotations

import collections
import logging
import threading
import time

from django.db import DatabaseError

from live import runtime
from migrator.models import Backend

logger = logging.getLogger(__name__)


class Guard:
    def __init__(self):
        self._lock = threading.Lock()
        self.reads: collections.deque = collections.deque()  # (time, seconds, failed)
        self.mismatches: collections.deque = collections.deque()  # times
        self.triggered_version = -1

    def reset(self) -> None:
        with self._lock:
            self.reads.clear()
            self.mismatches.clear()
            self.triggered_version = -1

    def read(self, seconds: float, *, failed: bool) -> None:
        with self._lock:
            self.reads.append((time.monotonic(), seconds, failed))
        self.check()

    def mismatch(self) -> None:
        with self._lock:
            self.mismatches.append(time.monotonic())
        self.check()

    def verdict(self, thresholds: dict) -> str | None:
        """Why reads should roll back now, or None."""
        with self._lock:
            horizon = time.monotonic() - thresholds["window_seconds"]
            while self.reads and self.reads[0][0] < horizon:
                self.reads.popleft()
            while self.mismatches and self.mismatches[0] < horizon:
                self.mismatches.popleft()
            reads = list(self.reads)
            mismatches = len(self.mismatches)
        window = f"in the last {thresholds['window_seconds']:g} s"
        if mismatches > thresholds["mismatches"]:
            return (
                f"{mismatches} shadow mismatch(es) {window} (threshold {thresholds['mismatches']})"
            )
        if len(reads) < thresholds["min_requests"]:
            return None
        failed = sum(1 for _, _, f in reads if f)
        rate = failed / len(reads)
        if rate > thresholds["error_rate"]:
            return (
                f"error rate {rate:.0%} over {len(reads)} database reads {window} "
                f"(threshold {thresholds['error_rate']:.0%})"
            )
        latencies = sorted(seconds for _, seconds, _ in reads)
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        if p95 > thresholds["p95_seconds"]:
            return (
                f"p95 latency {p95:.2f} s over {len(reads)} database reads {window} "
                f"(threshold {thresholds['p95_seconds']:g} s)"
            )
        return None

    def check(self) -> None:
        state = runtime.current_state()
        serving_database = state.active == Backend.DATABASE or (
            state.canary_enabled and state.canary_percent > 0
        )
        if not state.auto_rollback or not serving_database:
            return
        reason = self.verdict(state.thresholds)
        if reason is None or self.triggered_version == state.version:
            return
        self.triggered_version = state.version
        try:
            runtime.state_change(
                action="auto-rollback",
                actor="auto-rollback",
                reason=reason,
                active=Backend.JSON,
                canary_enabled=False,
                auto_rollback=False,
            )
        except DatabaseError as exc:
            logger.error("event=auto_rollback_failed reason=%r error=%r", reason, str(exc))
            return
        self.reset()
        self.triggered_version = state.version
        logger.warning("event=auto_rollback reason=%r", reason)


guard = Guard()
