"""Serving one read: route it, fall back when the chosen store fails, shadow it.

The read API's views call :func:`serve` with a function that asks a backend; everything about
which store answers lives here. What happened is left on the request (``request.live_read``)
for live.middleware, which times the whole response and counts it (live.counters).
"""

from __future__ import annotations

import json
import time

from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from catalog import response_cache
from catalog.backends import BackendUnavailable, QueryRejected, get_backend
from catalog.serializers import encode, format_timestamp
from live import routing, runtime, shadow
from live.fallback import incidents

JSON = "application/json"


def error_response(status: int, error: str, detail=None) -> JsonResponse:
    body = {"error": error}
    if detail is not None:
        body["detail"] = detail
    return JsonResponse(body, status=status)


def serve(request, read, *, key: tuple | None = None, extra=None) -> HttpResponse:
    """Answer ``read(backend)`` from the store this request is routed to, or from the other.

    ``read`` returns the body (a dict) or an error response. With ``key`` (what the answer
    depends on besides the catalog's data: the endpoint and its arguments), the store may keep
    the encoded answer and send it again while its data has not changed (the database's
    response cache). ``extra()`` gives fields that depend on this service's state, not on the
    catalog's data (never cached), sent after the body and before the envelope.
    """
    state = runtime.current_state()
    chosen, cookie = routing.route(request, state)
    served_by, fallback_reason = chosen, None
    outcome = request.live_read = {
        "store": chosen,
        "error": False,
        "fallback": None,
        "store_seconds": None,
    }
    response_cache.take_hit()  # forget an earlier request's answer in this thread
    started = time.perf_counter()
    try:
        try:
            status, content = _answer(get_backend(chosen), read, key)
        finally:
            # The chosen store's own time (a failure included), apart from the whole response.
            outcome["store_seconds"] = time.perf_counter() - started
        incidents.succeeded(chosen)
    except QueryRejected as exc:
        outcome["store"] = None  # the client's mistake: no store failed, nothing to count
        return error_response(400, "invalid query", str(exc))
    except BackendUnavailable as exc:
        incidents.failed(chosen, str(exc))  # the details go to the log, once per incident
        outcome["error"] = True
        served_by = runtime.other_backend(chosen)
        fallback_reason = exc.category
        outcome["fallback"] = f"{chosen}->{served_by}:{exc.category}"
        try:
            status, content = _answer(get_backend(served_by), read, key)
        except BackendUnavailable as other_exc:
            incidents.failed(served_by, str(other_exc))
            response = error_response(
                503,
                "no data store can answer",
                {chosen: exc.category, served_by: other_exc.category},
            )
            response["Retry-After"] = "5"
            return response
    if status == 200:
        tail = (extra() if extra is not None else {}) | {
            "timestamp": format_timestamp(timezone.now()),
            "dataSource": served_by,
            "cached": response_cache.take_hit(),
            "fallbackReason": fallback_reason,
        }
        response = HttpResponse(_joined(content, tail), content_type=JSON)
        if state.shadow_enabled and fallback_reason is None and shadow.sampled(state.shadow_sample):
            shadow.compare_later(
                request.get_full_path(),
                read,
                served_by,
                runtime.other_backend(served_by),
                json.loads(content),
            )
    else:  # an error answered by the store (an unknown model): sent as it is
        response = HttpResponse(content, status=status, content_type=JSON)
    response["X-Data-Source"] = served_by
    if cookie and routing.cookie_wanted(state):
        response.set_cookie(
            routing.CLIENT_COOKIE,
            cookie,
            max_age=routing.COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response


def _answer(backend, read, key) -> tuple[int, bytes]:
    """``(status, encoded body)``: ``read(backend)`` encoded, or the backend's kept answer."""

    def compute():
        body = read(backend)
        if isinstance(body, HttpResponse):
            return body.status_code, body.content
        return 200, encode(body)

    return compute() if key is None else backend.answer(key, compute)


def _joined(content: bytes, tail: dict) -> bytes:
    """The encoded object ``content`` with the fields of ``tail`` added at its end."""
    more = encode(tail)
    if content == b"{}":
        return more
    if more == b"{}":
        return content
    return b"".join((content[:-1], b",", more[1:]))
