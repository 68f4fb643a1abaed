"""Middleware of the live switch: maintenance mode for writes, and the timing of every read.

``LiveMiddleware`` comes right after the header-only middleware (security headers, CSP) so that
the time it measures is the whole response (sessions, CSRF, auth, the view, the store, the
fallback, the serialization), and its own 503s still carry those headers.
"""

from __future__ import annotations

import time

from live import counters, maintenance, runtime, targets, totals
from live.guard import guard


class LiveMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # The guard judges the whole service after each flush of this worker's counts.
        counters.after_flush(guard.check)
        # ... folds old minutes into the lifetime totals (/metrics), and checks the targets.
        counters.after_flush(totals.fold_now_and_then)
        counters.after_flush(targets.check_now_and_then)
        runtime.serving = True  # this process serves: it reports DATA_BACKEND_OVERRIDE

    def __call__(self, request):
        refused = maintenance.refusal(request)
        if refused is not None:
            return refused
        started = time.perf_counter()
        response = self.get_response(request)
        outcome = getattr(request, "live_read", None)
        if outcome and outcome["store"]:
            match = request.resolver_match
            counters.record(
                outcome["store"],
                match.url_name if match else request.path[:64],
                response.status_code,
                time.perf_counter() - started,
                error=outcome["error"],
                fallback=outcome["fallback"],
                store_seconds=outcome.get("store_seconds"),
            )
        return response
