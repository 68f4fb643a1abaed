"""Maintenance mode: while on (``switch_backend maintenance on``), every write answers 503.

Writes through the API and the admin are refused before any view runs (live.middleware), with
``Retry-After`` and a JSON body; the write service refuses too, for every other caller. Reads
go on. Signing in and out of the admin stays possible.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import reverse

from live import runtime
from migrator.errors import MigratorError

RETRY_AFTER_SECONDS = 60
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class MaintenanceMode(MigratorError):
    """Writes are paused for maintenance."""

    def __init__(self):
        super().__init__("writes are paused for maintenance; reads go on. Retry later.")


def response() -> JsonResponse:
    """The 503 every refused write gets."""
    refused = JsonResponse(
        {
            "error": "maintenance",
            "detail": str(MaintenanceMode()),
            "retryAfter": RETRY_AFTER_SECONDS,
        },
        status=503,
    )
    refused["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return refused


def _guarded(path: str) -> bool:
    admin = reverse("admin:index")
    if path in (reverse("admin:login"), reverse("admin:logout")):
        return False
    return path.startswith(("/api/", admin))


def refusal(request) -> JsonResponse | None:
    """The 503 for a write that arrives during maintenance, else None."""
    if request.method not in WRITE_METHODS or not _guarded(request.path):
        return None
    if not runtime.current_state().maintenance:
        return None
    return response()


def check_writable() -> None:
    """Raise MaintenanceMode while writes are paused (the write service calls it)."""
    if runtime.current_state().maintenance:
        raise MaintenanceMode()
