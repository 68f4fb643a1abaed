"""The migration dashboard in the admin (staff only): the state of the move on one page.

The state, queues, validation and audit come from ``switch.status()`` (what ``switch_backend
status`` prints); the charts from the shared per-minute counters of every worker
(``counters.minutes``); the targets from live.targets. Charts are server-rendered SVG.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from live import charts, counters, switch, targets
from migrator.models import Backend

MINUTES = 60
STORES = (Backend.JSON, Backend.DATABASE)


def series(minutes: int = MINUTES) -> dict[str, dict[str, list]]:
    """Per store, one point per minute of the last ``minutes`` (oldest first): p95 (ms), reads
    per second, error rate (%) and fallbacks from that store (a minute without reads: None for
    p95 and the error rate, 0 for the counts)."""
    now = counters.minute_of(timezone.now())
    slots = [now - dt.timedelta(minutes=minutes - 1 - i) for i in range(minutes)]
    out: dict[str, dict[str, list]] = {
        "p95": {}, "rate": {}, "errors": {}, "fallbacks": {}
    }  # fmt: skip
    for store in STORES:
        by_minute = {entry["minute"]: entry for entry in counters.minutes(store, minutes)}
        p95, rate, errors, fallbacks = [], [], [], []
        for minute in slots:
            entry = by_minute.get(minute)
            requests = entry["requests"] if entry else 0
            latency = entry["p95_seconds"] if entry else None
            p95.append(None if latency is None else min(latency, counters.BOUNDS[-1]) * 1000)
            rate.append(requests / 60)
            errors.append(100 * entry["errors"] / requests if requests else None)
            fallbacks.append(sum(entry["fallbacks"].values()) if entry else 0)
        out["p95"][store], out["rate"][store] = p95, rate
        out["errors"][store], out["fallbacks"][store] = errors, fallbacks
    return out


def dashboard(request):
    """Staff only (wrapped in admin_view by live.urls)."""
    data = series()
    chart_list = [
        (title, charts.line_chart(title, unit, data[key], MINUTES))
        for key, title, unit in (
            ("p95", "p95 response time", "ms"),
            ("rate", "request rate", "reads/s"),
            ("errors", "error rate (reads the store failed)", "%"),
            ("fallbacks", "fallbacks away from the store", "per minute"),
        )
    ]
    document = switch.status()
    context = admin.site.each_context(request) | {
        "title": "Migration dashboard",
        "status": document,
        "state": document["state"],
        "targets": targets.evaluate(),
        "alerts": targets.active(),
        "charts": chart_list,
        "now": timezone.now(),
    }
    return TemplateResponse(request, "live/dashboard.html", context)
