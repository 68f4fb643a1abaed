"""Serving a read from the other store when the chosen one fails; counted, logged per incident.

An incident starts with the first failure of a store and ends with its first success after
that: one log line each way, however many requests fell back in between.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class StoreHealth:
    fallbacks: int = 0
    incidents: int = 0
    failing_since: float | None = None
    reason: str = ""


class Incidents:
    """This worker's view of failing stores."""

    def __init__(self):
        self._lock = threading.Lock()
        self.stores: dict[str, StoreHealth] = {}

    def failed(self, store: str, reason: str) -> None:
        with self._lock:
            health = self.stores.setdefault(store, StoreHealth())
            health.fallbacks += 1
            if health.failing_since is None:
                health.failing_since = time.time()
                health.incidents += 1
                health.reason = reason
                logger.warning("event=fallback_incident_started store=%s reason=%r", store, reason)

    def succeeded(self, store: str) -> None:
        health = self.stores.get(store)
        if health is None or health.failing_since is None:
            return
        with self._lock:
            if health.failing_since is None:
                return
            lasted = time.time() - health.failing_since
            health.failing_since = None
            logger.warning(
                "event=fallback_incident_ended store=%s seconds=%.1f fallbacks=%s",
                store,
                lasted,
                health.fallbacks,
            )

    def as_dict(self) -> dict:
        with self._lock:
            return {
                store: {
                    "fallbacks": h.fallbacks,
                    "incidents": h.incidents,
                    "failing": h.failing_since is not None,
                    "reason": h.reason,
                }
                for store, h in self.stores.items()
            }


incidents = Incidents()
