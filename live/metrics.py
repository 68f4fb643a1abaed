"""``/metrics``: the service in Prometheus's text format, read from the shared counters.

Every number comes from the database that all workers and instances share (live.totals for the
traffic, the state row, the queues, the run records), so any one worker answers for the whole
service and a scrape sees the same totals whichever worker it reaches — no multiprocess
directory, no per-worker series to add up. prometheus_client only formats: a custom collector
builds the families at scrape time.

Access: ``Authorization: Bearer $METRICS_TOKEN``. Without METRICS_TOKEN the endpoint answers 404
in production and is open with DEBUG on (a developer's machine).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from live import counters, runtime, targets, totals, writes
from migrator.models import (
    Backend,
    BackfillRun,
    ShadowStats,
    TargetBreach,
    ValidationRun,
)

STORES = (Backend.JSON, Backend.DATABASE)


def _buckets(histogram: list[int]) -> list[tuple[str, int]]:
    """Prometheus's cumulative buckets from live.counters' per-bucket counts."""
    out, seen = [], 0
    for bound, count in zip([*counters.BOUNDS, float("inf")], histogram, strict=False):
        seen += count
        out.append(("+Inf" if bound == float("inf") else repr(bound), seen))
    return out


class CatalogCollector:
    """Builds every family from the database at each scrape."""

    def collect(self):
        yield from self._traffic()
        yield from self._state()
        yield from self._writes()
        yield from self._runs()
        yield from self._targets()

    def _traffic(self):
        requests = CounterMetricFamily(
            "catalog_http_requests",
            "API reads answered, by endpoint, routed store and HTTP status (all workers).",
            labels=["endpoint", "store", "status"],
        )
        failures = CounterMetricFamily(
            "catalog_store_errors",
            "API reads the routed store failed (served by the other store, or 503).",
            labels=["store"],
        )
        fallbacks = CounterMetricFamily(
            "catalog_fallbacks",
            "Reads answered by the other store, by direction and reason category.",
            labels=["from_store", "to_store", "reason"],
        )
        mismatches = CounterMetricFamily(
            "catalog_shadow_mismatches_by_store",
            "Shadow reads that found this store answering differently.",
            labels=["store"],
        )
        response = HistogramMetricFamily(
            "catalog_http_request_duration_seconds",
            "Whole-response time of API reads, by routed store.",
            labels=["store"],
        )
        store_call = HistogramMetricFamily(
            "catalog_store_call_duration_seconds",
            "Time of the call to the routed store within an API read.",
            labels=["store"],
        )
        per_store: dict[str, totals.Total] = {store: totals.Total() for store in STORES}
        errors: dict[str, int] = dict.fromkeys(STORES, 0)
        shadowed: dict[str, int] = dict.fromkeys(STORES, 0)
        moved: dict[tuple, int] = {}
        for (store, endpoint), total in sorted(totals.lifetime().items()):
            for status, count in sorted(total.statuses.items()):
                requests.add_metric([endpoint, store, status], count)
            per_store.setdefault(store, totals.Total()).add(total)
            errors[store] = errors.get(store, 0) + total.errors
            shadowed[store] = shadowed.get(store, 0) + total.mismatches
            for name, count in total.fallbacks.items():
                direction, _, reason = name.partition(":")
                source, _, target = direction.partition("->")
                key = (source, target, reason or "unknown")
                moved[key] = moved.get(key, 0) + count
        for store, total in per_store.items():
            response.add_metric([store], _buckets(total.latency), total.seconds)
            store_call.add_metric([store], _buckets(total.store_latency), total.store_seconds)
            failures.add_metric([store], errors.get(store, 0))
            mismatches.add_metric([store], shadowed.get(store, 0))
        for key, count in sorted(moved.items()):
            fallbacks.add_metric(list(key), count)
        shadow = ShadowStats.objects.filter(pk=1).first()
        compared = CounterMetricFamily(
            "catalog_shadow_comparisons", "Shadow reads compared with the other store."
        )
        compared.add_metric([], shadow.compared if shadow else 0)
        mismatched = CounterMetricFamily(
            "catalog_shadow_mismatches", "Shadow reads whose answers differed."
        )
        mismatched.add_metric([], shadow.mismatched if shadow else 0)
        yield from (requests, failures, fallbacks, response, store_call, compared, mismatched)
        yield mismatches

    def _state(self):
        state = runtime.current_state()
        active = GaugeMetricFamily(
            "catalog_active_store", "1 for the store serving reads.", labels=["store"]
        )
        for store in STORES:
            active.add_metric([store], float(state.active == store))
        yield active
        for name, text, value in (
            ("catalog_canary_enabled", "1 while the canary routes reads to the database.",
             state.canary_enabled),
            ("catalog_canary_percent", "Share of clients the canary routes (0-100).",
             state.canary_percent if state.canary_enabled else 0.0),
            ("catalog_state_version", "Version of the switch's state row.", state.version),
            ("catalog_dual_write_enabled", "1 while writes go to both stores.", state.dual_write),
            ("catalog_shadow_enabled", "1 while shadow reads run.", state.shadow_enabled),
            ("catalog_auto_rollback_enabled", "1 while the guard may roll back.",
             state.auto_rollback),
            ("catalog_maintenance", "1 while writes answer 503.", state.maintenance),
            ("catalog_override_active", "1 while DATA_BACKEND_OVERRIDE decides reads.",
             bool(state.override or state.override_seen)),
        ):  # fmt: skip
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], float(value))
            yield gauge

    def _writes(self):
        pending = GaugeMetricFamily(
            "catalog_pending_writes", "Secondary writes queued, per target store.", labels=["store"]
        )
        for store, queue in writes.queue_status().items():
            if queue.get("queued") is not None:
                pending.add_metric([store], queue["queued"])
        dead = GaugeMetricFamily(
            "catalog_dead_letters", "Unresolved dead-lettered writes, per store.", labels=["store"]
        )
        counts = writes.dead_letter_counts()
        for store in STORES:
            dead.add_metric([store], counts.get(store, 0))
        yield pending
        yield dead

    def _runs(self):
        backfill = BackfillRun.objects.order_by("-pk").first()
        validation = ValidationRun.objects.order_by("-pk").first()
        if backfill is not None:
            yield from _run_families("backfill", backfill, backfill.outcome)
        if validation is not None:
            outcome = {True: "passed", False: "failed", None: "error"}[validation.passed]
            if validation.finished_at is None and not validation.error:
                outcome = "running"
            yield from _run_families("validation", validation, outcome)

    def _targets(self):
        crossed = GaugeMetricFamily(
            "catalog_target_crossed",
            "1 for each service target crossed now (store:measure:window).",
            labels=["target"],
        )
        for name in TargetBreach.objects.values_list("name", flat=True):
            crossed.add_metric([name], 1.0)
        yield crossed
        limits = GaugeMetricFamily(
            "catalog_target_limit", "The service targets.", labels=["measure"]
        )
        limits.add_metric(["p95_seconds"], targets.P95_SECONDS)
        limits.add_metric(["error_rate"], targets.ERROR_RATE)
        limits.add_metric(["database_to_json_p95"], targets.DATABASE_TO_JSON_P95)
        yield limits


def _run_families(kind: str, run, outcome: str):
    """The latest run of ``kind``: its outcome, id, duration, end and row counts."""
    info = GaugeMetricFamily(
        f"catalog_{kind}_last_outcome",
        f"1 for the outcome of the latest {kind} run.",
        labels=["outcome"],
    )
    info.add_metric([outcome], 1.0)
    number = GaugeMetricFamily(f"catalog_{kind}_last_run_id", f"The latest {kind} run.")
    number.add_metric([], run.pk)
    yield from (info, number)
    if run.finished_at:
        duration = GaugeMetricFamily(
            f"catalog_{kind}_last_duration_seconds", f"How long the latest {kind} run took."
        )
        duration.add_metric([], (run.finished_at - run.started_at).total_seconds())
        finished = GaugeMetricFamily(
            f"catalog_{kind}_last_finished_timestamp_seconds",
            f"When the latest {kind} run finished (Unix time).",
        )
        finished.add_metric([], run.finished_at.timestamp())
        yield from (duration, finished)
    rows = GaugeMetricFamily(
        f"catalog_{kind}_last_rows",
        f"Row counts of the latest {kind} run, per entity and kind of count.",
        labels=["entity", "count"],
    )
    for entity, values in sorted((run.counts or {}).items()):
        for name, value in sorted((values or {}).items()):
            # Counts only: not the booleans, nor the timings (seconds, rows_per_second).
            if isinstance(value, int) and not isinstance(value, bool) and "second" not in name:
                rows.add_metric([entity, name], value)
    yield rows


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CatalogCollector())
    return generate_latest(registry)


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        if settings.DEBUG:
            return True
        raise Http404  # production without a token: as if there were no such page
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@require_GET
def metrics(request):
    if not _allowed(request):
        response = HttpResponse("metrics need Authorization: Bearer <METRICS_TOKEN>\n", status=401)
        response["WWW-Authenticate"] = "Bearer"
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    counters.flush()  # this worker's latest counts too
    try:
        body = exposition()
    except DatabaseError:
        return HttpResponse("metrics unavailable: database unreachable\n", status=503)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
