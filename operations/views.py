"""Small operational endpoints: the index page, the docs, the cron entry point, database
diagnostics for staff. Each parses the request and calls one function."""

from __future__ import annotations

import hmac
import sqlite3
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from migrator.errors import first_line
from operations.migration_log import describe_database
from operations.models import MigrationRun, SchemaCheck
from operations.schema_check import applied_and_pending
from operations.sync import SyncRefused, sync_export

# The documents served at /docs/<name>, from the repository.
DOCS = {
    "README.md": settings.BASE_DIR / "README.md",
    "export-format.md": settings.BASE_DIR / "docs" / "export-format.md",
}


def _error(status: int, error: str, detail: str | None = None) -> JsonResponse:
    return JsonResponse({"error": error, "detail": detail}, status=status)


@require_GET
def index(request):
    """What the site is, with links: the API, the admin, the health check, the docs."""
    return render(request, "operations/index.html", {"docs": sorted(DOCS)})


@require_GET
def document(request, name: str):
    path: Path | None = DOCS.get(name)
    if path is None or not path.is_file():
        raise Http404(f"no document {name!r}")
    return FileResponse(path.open("rb"), content_type="text/markdown; charset=utf-8")


@require_GET
def cron_sync_models(request):
    """Vercel's cron: the export's re-sync (backfill_json, then validate_migration)."""
    secret = settings.CRON_SECRET
    if not secret:
        return _error(503, "cron is disabled", "set CRON_SECRET (Vercel sends it as a bearer)")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        response = _error(401, "authentication required", "send Authorization: Bearer <secret>")
        response["WWW-Authenticate"] = 'Bearer realm="cron"'
        return response
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return _error(403, "invalid token")
    try:
        result = sync_export(time_limit=settings.CRON_TIME_LIMIT)
    except SyncRefused as exc:
        return _error(503, "sync refused", str(exc))
    except DatabaseError as exc:
        return _error(503, "database unavailable", first_line(exc))
    return JsonResponse(result, status=200 if result["ok"] else 500)


def _server_version() -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
    if connection.vendor == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    return connection.vendor


@require_GET
def debug_db(request):
    """Staff only: which database, through what, and its migration state. Never a secret."""
    if not (request.user.is_authenticated and request.user.is_staff):
        return _error(403, "staff only", "log in to the admin as a staff user")
    db = connection.settings_dict
    try:
        applied, pending = applied_and_pending(connection)
        version = _server_version()
        last_run = MigrationRun.objects.first()
        last_check = SchemaCheck.objects.first()
    except DatabaseError as exc:
        return _error(503, "database unavailable", first_line(exc))
    return JsonResponse(
        {
            "vendor": connection.vendor,
            "serverVersion": version,
            "database": describe_database(),
            "throughDirectUrl": bool(settings.USE_DIRECT_URL and settings.DIRECT_URL),
            "directUrlSet": bool(settings.DIRECT_URL),
            "pooledUrl": bool(db.get("DISABLE_SERVER_SIDE_CURSORS")),
            "pool": bool((db.get("OPTIONS") or {}).get("pool")),
            "connMaxAge": db.get("CONN_MAX_AGE"),
            "connHealthChecks": db.get("CONN_HEALTH_CHECKS"),
            "sslmode": (db.get("OPTIONS") or {}).get("sslmode"),
            "migrations": {"applied": len(applied), "pending": pending},
            "lastMigrationRun": last_run
            and {
                "id": last_run.pk,
                "startedAt": last_run.started_at,
                "outcome": last_run.outcome,
                "steps": len(last_run.steps),
                "error": last_run.error or None,
            },
            "lastSchemaCheck": last_check
            and {
                "id": last_check.pk,
                "checkedAt": last_check.checked_at,
                "matches": last_check.matches,
                "differences": len(last_check.differences),
            },
        }
    )
