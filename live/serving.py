"""Serving one read: route it, fall back when the chosen store fails, shadow it, guard it.

The read API's views call :func:`serve` with a function that asks a backend; everything about
which store answers lives here.
"""

from __future__ import annotations

import time

from django.http import JsonResponse
from django.utils import timezone

from catalog import response_cache
from catalog.backends import BackendUnavailable, get_backend
from catalog.serializers import format_timestamp
from live import routing, runtime, shadow
from live.fallback import incidents
from live.guard import guard
from migrator.models import Backend


def error_response(status: int, error: str, detail=None) -> JsonResponse:
    body = {"error": error}
    if detail is not None:
        body["detail"] = detail
    return JsonResponse(body, status=status)


def serve(request, read) -> JsonResponse:
    """Answer ``read(backend)`` from the store this request is routed to, or from the other."""
    state = runtime.current_state()
    chosen, cookie = routing.route(request, state)
    served_by, fallback_reason = chosen, None
    started = time.perf_counter()
    response_cache.take_hit()  # forget an earlier request's answer in this thread
    try:
        body = read(get_backend(chosen))
        incidents.succeeded(chosen)
    except BackendUnavailable as exc:
        incidents.failed(chosen, str(exc))
        served_by = runtime.other_backend(chosen)
        fallback_reason = f"{chosen} unavailable: {exc}"
        try:
            body = read(get_backend(served_by))
        except BackendUnavailable as other_exc:
            response = error_response(
                503,
                "no data store can answer",
                {chosen: str(exc), served_by: str(other_exc)},
            )
            response["Retry-After"] = "5"
            return response
    if chosen == Backend.DATABASE:
        guard.read(time.perf_counter() - started, failed=fallback_reason is not None)
    if isinstance(body, JsonResponse):
        response = body
    else:
        body.update(
            timestamp=format_timestamp(timezone.now()),
            dataSource=served_by,
            cached=response_cache.take_hit(),
            fallbackReason=fallback_reason,
        )
        response = JsonResponse(body)
        if state.shadow_enabled and fallback_reason is None and shadow.sampled(state.shadow_sample):
            shadow.compare_later(
                request.get_full_path(), read, served_by, runtime.other_backend(served_by), body
            )
    response["X-Data-Source"] = served_by
    if cookie:
        response.set_cookie(
            routing.CLIENT_COOKIE,
            cookie,
            max_age=routing.COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response
