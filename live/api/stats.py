"""``/api/v1/dual-write/stats``: how the move's writes are doing, for dashboards and operators.

Everyone sees the counts; error texts (which may name hosts, databases and paths) and the service
targets (p95 and error rate per store, live.targets) only the monitors' bearer token or a staff
login sees.
"""

from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone

from catalog.serializers import format_timestamp
from live import runtime, targets, writes
from live.api.views import authorized, methods
from live.fallback import incidents
from migrator.errors import first_line
from migrator.models import Backend, ShadowStats, StoreWriteStats


def _privileged(request) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    return "Authorization" in request.headers and authorized(request) is None


@methods("GET")
def dual_write_stats(request):
    privileged = _privileged(request)
    state = runtime.current_state()
    writes.stats.save()
    stores, error = {}, None
    try:
        rows = {row.store: row for row in StoreWriteStats.objects.all()}
        shadow = ShadowStats.objects.filter(pk=1).first()
        dead = writes.dead_letter_counts()
    except DatabaseError as exc:
        rows, shadow, dead = {}, None, {}
        error = first_line(exc) if privileged else "database unavailable"
    for name in (Backend.JSON, Backend.DATABASE):
        row = rows.get(name)
        attempted = row.attempted if row else 0
        succeeded = row.succeeded if row else 0
        stores[name] = {
            "attempted": attempted,
            "succeeded": succeeded,
            "successRate": round(succeeded / attempted, 4) if attempted else None,
            "lastError": (row.last_error or None) if row and privileged else None,
            "lastErrorAt": format_timestamp(row.last_error_at) if row else None,
        }
    service_targets = None
    if privileged:  # the whole service's traffic: for monitors and staff
        try:
            service_targets = targets.evaluate() | {
                "alerts": [
                    alert | {"since": format_timestamp(alert["since"])}
                    for alert in targets.active()
                ]
            }
        except DatabaseError:
            service_targets = None
    queues = writes.queue_status()
    fallbacks = incidents.as_dict()
    if not privileged:
        fallbacks = {
            store: {k: v for k, v in health.items() if k != "reason"}
            for store, health in fallbacks.items()
        }
    return JsonResponse(
        {
            "dualWrite": state.dual_write,
            "primary": state.active,
            "secondary": state.other if state.dual_write else None,
            "maintenance": state.maintenance,
            "backendOverride": state.override or None,
            "stores": stores,
            "queue": {
                name: {"depth": q["queued"], "oldest": q["oldest"]} for name, q in queues.items()
            },
            "pending": sum(q["queued"] or 0 for q in queues.values()),
            "deadLetters": {name: dead.get(name, 0) for name in (Backend.JSON, Backend.DATABASE)},
            "fallbacks": fallbacks,
            "shadow": {
                "enabled": state.shadow_enabled,
                "compared": shadow.compared if shadow else 0,
                "mismatched": shadow.mismatched if shadow else 0,
            },
            "targets": service_targets,
            "stateSource": state.source,
            "error": error,
            "details": privileged,
            "timestamp": format_timestamp(timezone.now()),
        }
    )
