"""``/api/v1/dual-write/stats``: how the move's writes are doing, for dashboards and operators."""

from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from catalog.serializers import format_timestamp
from live import runtime, writes
from live.fallback import incidents
from migrator.errors import first_line
from migrator.models import Backend, ShadowStats, StoreWriteStats


@require_GET
def dual_write_stats(request):
    state = runtime.current_state()
    writes.stats.save()
    stores, error = {}, None
    try:
        rows = {row.store: row for row in StoreWriteStats.objects.all()}
        shadow = ShadowStats.objects.filter(pk=1).first()
    except DatabaseError as exc:
        rows, shadow, error = {}, None, first_line(exc)
    for name in (Backend.JSON, Backend.DATABASE):
        row = rows.get(name)
        attempted = row.attempted if row else 0
        succeeded = row.succeeded if row else 0
        stores[name] = {
            "attempted": attempted,
            "succeeded": succeeded,
            "successRate": round(succeeded / attempted, 4) if attempted else None,
            "lastError": (row.last_error or None) if row else None,
            "lastErrorAt": format_timestamp(row.last_error_at) if row else None,
        }
    queues = writes.queue_status()
    return JsonResponse(
        {
            "dualWrite": state.dual_write,
            "primary": state.active,
            "secondary": state.other if state.dual_write else None,
            "stores": stores,
            "queue": {
                name: {"depth": q["queued"], "oldest": q["oldest"]} for name, q in queues.items()
            },
            "pending": sum(q["queued"] or 0 for q in queues.values()),
            "fallbacks": incidents.as_dict(),
            "shadow": {
                "enabled": state.shadow_enabled,
                "compared": shadow.compared if shadow else 0,
                "mismatched": shadow.mismatched if shadow else 0,
            },
            "stateSource": state.source,
            "error": error,
            "timestamp": format_timestamp(timezone.now()),
        }
    )
