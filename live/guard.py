"""Automatic rollback: judge the whole service's database reads, roll back when they go bad.

The counts come from the shared traffic counters (live.counters): every worker's and every
instance's reads routed to the database, timed as whole responses, with store failures and
shadow mismatches. With auto-rollback on, crossing a threshold (error rate, p95, mismatches,
over the window; operator-set, DEFAULT_THRESHOLDS in runtime.py) moves every read back to JSON
and writes the reason in the audit log. Each worker judges after it flushes its counts; the
state change is conditional on the state's version, so of several workers that see the same
incident one rolls back and one audit entry is written.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError

from live import counters, runtime, switch
from migrator.models import Backend

logger = logging.getLogger(__name__)


def verdict(thresholds: dict, window: counters.Window) -> str | None:
    """Why reads should roll back now, or None."""
    span = f"in the last {thresholds['window_seconds']:g} s"
    if window.mismatches > thresholds["mismatches"]:
        return (
            f"{window.mismatches} shadow mismatch(es) {span} (threshold {thresholds['mismatches']})"
        )
    if window.requests < thresholds["min_requests"]:
        return None
    rate = window.error_rate or 0.0
    if rate > thresholds["error_rate"]:
        return (
            f"error rate {rate:.0%} over {window.requests} database reads {span}, all workers "
            f"(threshold {thresholds['error_rate']:.0%})"
        )
    if window.p95_seconds is not None and window.p95_seconds > thresholds["p95_seconds"]:
        return (
            f"p95 response time above {thresholds['p95_seconds']:g} s "
            f"(histogram bucket up to {window.p95_seconds:g} s) over {window.requests} "
            f"database reads {span}, all workers"
        )
    return None


def serving_database(state: runtime.State) -> bool:
    return state.active == Backend.DATABASE or state.canary_enabled


class Guard:
    def check(self) -> runtime.State | None:
        """Roll back if the thresholds are crossed; the new state, or None."""
        state = runtime.current_state()
        if state.override or not state.auto_rollback or not serving_database(state):
            return None
        try:
            window = counters.window(
                Backend.DATABASE, state.thresholds["window_seconds"], since=state.changed_at
            )
            reason = verdict(state.thresholds, window)
            if reason is None:
                return None
            rolled = switch.rollback(
                reason=reason,
                actor="auto-rollback",
                expect_version=state.version,
                action="auto-rollback",
                auto_rollback=False,
            )
        except DatabaseError as exc:
            logger.error("event=auto_rollback_failed error=%r", str(exc)[:200])
            return None
        if rolled is not None:
            logger.warning("event=auto_rollback version=%s reason=%r", rolled.version, reason)
        return rolled


guard = Guard()
