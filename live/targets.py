"""The seeds' service targets, checked continuously on the shared traffic counters.

Per store, over the last 5 and 60 minutes (every worker and instance, live.counters — the same
numbers the auto-rollback guard reads): p95 response time under 500 ms, error rate (reads the
store failed) under 1 %, and the database's p95 at most twice the JSON store's. A window with
fewer than ``MIN_REQUESTS`` reads is not judged, nor the ratio while the database's p95 is at
most ``RATIO_FLOOR_SECONDS``. A target crossed is a ``TargetBreach`` row
for as long as it stays crossed: the worker that creates the row logs one ``event=alert`` line,
the one that deletes it ``event=alert_resolved`` — once per crossing, not per request or worker.

API: :func:`evaluate` (the document shown by ``switch_backend status``, the stats endpoint and
the dashboard), :func:`check` (evaluate and alert).
"""

from __future__ import annotations

import logging
import math
import time

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from live import counters
from migrator.models import Backend, TargetBreach

logger = logging.getLogger(__name__)

P95_SECONDS = 0.5
ERROR_RATE = 0.01
DATABASE_TO_JSON_P95 = 2.0
WINDOWS = {"5m": 300, "60m": 3600}
MIN_REQUESTS = 20
# p95s are histogram bucket bounds (live.counters.BOUNDS): one bucket up from 10 ms is 25 ms, a
# "2.5x". Below this p95 the database is not judged against JSON (both are fast).
RATIO_FLOOR_SECONDS = 0.05
STORES = (Backend.JSON, Backend.DATABASE)


def _ms(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    return round(min(seconds, counters.BOUNDS[-1] * 2) * 1000, 1)  # inf: past the last bound


def evaluate() -> dict:
    """Each store's p95 and error rate per window, and the targets crossed now."""
    stores: dict = {}
    crossed: list[dict] = []
    windows = {
        (store, name): counters.window(store, seconds)
        for store in STORES
        for name, seconds in WINDOWS.items()
    }
    for (store, name), window in windows.items():
        judged = window.requests >= MIN_REQUESTS
        entry = {
            "requests": window.requests,
            "errors": window.errors,
            "errorRatePercent": None
            if window.error_rate is None
            else round(window.error_rate * 100, 2),
            "p95Ms": _ms(window.p95_seconds),
            "judged": judged,
            "ok": True,
        }
        stores.setdefault(store, {})[name] = entry
        if not judged:
            continue
        found = []
        if window.p95_seconds is not None and window.p95_seconds > P95_SECONDS:
            found.append(
                (
                    "p95",
                    window.p95_seconds,
                    P95_SECONDS,
                    f"p95 above 500 ms (bucket {_fmt(window)})",
                )
            )
        if window.error_rate > ERROR_RATE:
            found.append(
                (
                    "error_rate",
                    window.error_rate,
                    ERROR_RATE,
                    f"error rate {window.error_rate:.1%} ({window.errors} of "
                    f"{window.requests} reads) > 1%",
                )
            )
        json_window = windows[(Backend.JSON, name)]
        if (
            store == Backend.DATABASE
            and json_window.requests >= MIN_REQUESTS
            and window.p95_seconds is not None
            and window.p95_seconds > RATIO_FLOOR_SECONDS
            and json_window.p95_seconds
            and window.p95_seconds > DATABASE_TO_JSON_P95 * json_window.p95_seconds
        ):
            ratio = window.p95_seconds / json_window.p95_seconds
            found.append(
                (
                    "p95_vs_json",
                    ratio,
                    DATABASE_TO_JSON_P95,
                    f"p95 {_fmt(window)} is {ratio:.1f}x JSON's {_fmt(json_window)} (> 2x)",
                )
            )
        for measure, value, limit, text in found:
            entry["ok"] = False
            crossed.append(
                {
                    "name": f"{store}:{measure}:{name}",
                    "value": value if math.isfinite(value) else limit * 1000,
                    "limit": limit,
                    "message": f"{store} over the last {name}: {text}",
                }
            )
    return {
        "targets": {
            "p95Ms": P95_SECONDS * 1000,
            "errorRatePercent": ERROR_RATE * 100,
            "databaseToJsonP95": DATABASE_TO_JSON_P95,
            "minRequests": MIN_REQUESTS,
            "ratioFloorMs": RATIO_FLOOR_SECONDS * 1000,
        },
        "stores": stores,
        "crossed": crossed,
        "ok": not crossed,
    }


def _fmt(window: counters.Window) -> str:
    p95 = window.p95_seconds
    return "> 30 s" if p95 is not None and not math.isfinite(p95) else f"<= {p95 * 1000:g} ms"


def check() -> dict:
    """Evaluate, log an alert for each target newly crossed and a resolution for each target
    back within bounds (across every worker: the TargetBreach rows decide who logs)."""
    document = evaluate()
    now = {item["name"]: item for item in document["crossed"]}
    for name, item in now.items():
        try:
            with transaction.atomic():
                _, created = TargetBreach.objects.get_or_create(
                    name=name,
                    defaults={
                        "since": timezone.now(),
                        "value": item["value"],
                        "limit": item["limit"],
                        "message": item["message"],
                    },
                )
        except IntegrityError:
            created = False  # another worker created it at the same moment, and logs it
        if created:
            logger.error("event=alert target=%s %s", name, item["message"])
    for breach in TargetBreach.objects.exclude(name__in=list(now)):
        if TargetBreach.objects.filter(pk=breach.pk).delete()[0]:
            logger.warning(
                "event=alert_resolved target=%s since=%s was=%r",
                breach.name,
                breach.since.isoformat(),
                breach.message,
            )
    return document


def active() -> list[dict]:
    """The targets crossed now, as the last check recorded them."""
    return list(TargetBreach.objects.order_by("since").values("name", "since", "message"))


_checked_at = 0.0
CHECK_SECONDS = 5.0


def check_now_and_then() -> None:
    """After a flush: check at most every CHECK_SECONDS per worker."""
    global _checked_at
    if time.monotonic() - _checked_at < CHECK_SECONDS:
        return
    _checked_at = time.monotonic()
    try:
        check()
    except DatabaseError as exc:
        logger.warning("event=targets_unchecked error=%r", str(exc)[:200])
