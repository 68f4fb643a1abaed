"""The read API (``/api/v1/...``): parse the query, then let the router pick the store that
answers (see live/serving.py). Every answer is JSON, errors included."""

from __future__ import annotations

import functools
import hmac
import json
import math

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from catalog.api.params import ModelListParams, slug_problem
from live import maintenance, runtime, writes
from live.serving import error_response, serve
from live.stores import UnknownModel, WriteRefused
from migrator import mapping

# A status is a few hundred bytes: anything near this is not one.
MAX_WRITE_BODY_BYTES = 64 * 1024
# How deep a status's JSON may nest (its metadata included).
MAX_WRITE_DEPTH = 16


def methods(*allowed: str):
    """Only these HTTP methods, else a JSON 405 naming the allowed ones. The views are exempt
    from CSRF: none uses cookies for authorization (reads are public, writes need a bearer
    token), and a wrong method must get a 405, not the CSRF middleware's HTML 403."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in allowed and not (
                request.method == "HEAD" and "GET" in allowed
            ):
                response = error_response(405, "method not allowed", f"use {' or '.join(allowed)}")
                response["Allow"] = ", ".join(allowed)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _bad_slug(slug: str):
    problem = slug_problem(slug)
    return None if problem is None else error_response(400, "invalid slug", problem)


@methods("GET")
def model_list(request):
    params = ModelListParams(request.GET)
    if not params.is_valid():
        return error_response(400, "invalid query parameters", params.errors.get_json_data())
    query = params.to_query()

    def read(backend):
        page = backend.list_models(query)
        return {
            "models": page.models,
            "total": page.total,
            "limit": query.limit,
            "offset": query.offset,
            "page": query.offset // query.limit + 1,
            "totalPages": math.ceil(page.total / query.limit),
        }

    return serve(request, read, key=("models", query))


@methods("GET")
def model_detail(request, slug: str):
    refused = _bad_slug(slug)
    if refused is not None:
        return refused

    def read(backend):
        model = backend.get_model(slug)
        if model is None:
            return error_response(404, "not found", f"no model with slug {slug!r}")
        return {"model": model}

    return serve(request, read, key=("model", slug))


@methods("GET")
def provider_list(request):
    def read(backend):
        providers = backend.list_providers()
        return {"providers": providers, "total": len(providers)}

    return serve(request, read, key=("providers",))


@methods("GET")
def status(request):
    def read(backend):
        return backend.status_summary()

    def extra():  # this service's state, not the catalog's data: never cached
        state = runtime.current_state()
        return {"backendOverride": state.override or None, "maintenance": state.maintenance}

    return serve(request, read, key=("status",), extra=extra)


def authorized(request):
    """None when the request carries the monitors' token, else the error response."""
    token = settings.STATUS_WRITE_TOKEN
    if not token:
        return error_response(503, "status writes are disabled", "set STATUS_WRITE_TOKEN")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        response = error_response(
            401, "authentication required", "send Authorization: Bearer <token>"
        )
        response["WWW-Authenticate"] = 'Bearer realm="catalog"'
        return response
    if not hmac.compare_digest(given.encode(), token.encode()):
        return error_response(403, "invalid token")
    return None


def _depth(value, limit: int) -> int:
    """How deep ``value`` nests, counting no further than ``limit + 1``."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > limit:
                break
            children = item.values() if isinstance(item, dict) else item
            pending += [(child, level + 1) for child in children]
    return deepest


def _status_body(request):
    """``(record, None)`` or ``(None, error response)``: size, JSON, shape and depth checked."""
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return None, error_response(400, "invalid Content-Length")
    too_large = error_response(
        413, "the body is too large", f"a status is at most {MAX_WRITE_BODY_BYTES} bytes"
    )
    if declared > MAX_WRITE_BODY_BYTES:
        return None, too_large
    try:
        body = request.body
    except RequestDataTooBig:
        return None, too_large
    if len(body) > MAX_WRITE_BODY_BYTES:
        return None, too_large
    try:
        record = json.loads(body or b"null")
    except RecursionError:
        return None, error_response(400, "the body nests too deeply")
    except ValueError as exc:
        return None, error_response(400, "the body is not JSON", str(exc))
    if not isinstance(record, dict):
        return None, error_response(400, "the body must be a JSON object (one status)")
    if _depth(record, MAX_WRITE_DEPTH) > MAX_WRITE_DEPTH:
        return None, error_response(
            400, "the body nests too deeply", f"at most {MAX_WRITE_DEPTH} levels"
        )
    return record, None


@methods("PUT")
def model_status_write(request, slug: str):
    """A monitor posts a model's status (one region) in the export's format."""
    refused = authorized(request) or _bad_slug(slug)
    if refused is not None:
        return refused
    record, refused = _status_body(request)
    if refused is not None:
        return refused
    try:
        result = writes.status_write(model_slug=slug, record=record, actor="api")
    except mapping.RecordError as exc:
        return error_response(400, "invalid status", {exc.field or "status": exc.reason})
    except UnknownModel:
        return error_response(404, "not found", f"no model with slug {slug!r}")
    except WriteRefused as exc:
        return error_response(400, "invalid status", str(exc))
    except maintenance.MaintenanceMode:
        return maintenance.response()
    except writes.PrimaryReadOnly as exc:
        return error_response(409, "the primary store is read-only here", exc.category)
    except writes.PrimaryUnavailable as exc:
        response = error_response(503, "the primary store cannot take the write", exc.category)
        response["Retry-After"] = "5"
        return response
    return JsonResponse(
        {
            "written": {"model": slug, "region": mapping.status_region(record)},
            "primary": result.primary,
            "secondary": result.secondary,
        },
        status=200,
    )
