"""The read API (``/api/v1/...``): parse the query, then let the router pick the store that
answers (see live/serving.py)."""

from __future__ import annotations

import hmac
import json
import math

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from catalog.api.params import ModelListParams
from live import writes
from live.serving import error_response, serve
from live.stores import UnknownModel, WriteRefused
from migrator import mapping


@require_GET
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

    return serve(request, read)


@require_GET
def model_detail(request, slug: str):
    def read(backend):
        model = backend.get_model(slug)
        if model is None:
            return error_response(404, "not found", f"no model with slug {slug!r}")
        return {"model": model}

    return serve(request, read)


@require_GET
def provider_list(request):
    def read(backend):
        providers = backend.list_providers()
        return {"providers": providers, "total": len(providers)}

    return serve(request, read)


@require_GET
def status(request):
    return serve(request, lambda backend: backend.status_summary())


def _authorized(request):
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


@csrf_exempt
@require_http_methods(["PUT"])
def model_status_write(request, slug: str):
    """A monitor posts a model's status (one region) in the export's format."""
    refused = _authorized(request)
    if refused is not None:
        return refused
    try:
        record = json.loads(request.body or b"null")
    except ValueError as exc:
        return error_response(400, "the body is not JSON", str(exc))
    if not isinstance(record, dict):
        return error_response(400, "the body must be a JSON object (one status)")
    try:
        mapping.map_status(record)
        result = writes.status_write(model_slug=slug, record=record, actor="api")
    except mapping.RecordError as exc:
        return error_response(400, "invalid status", {exc.field or "status": exc.reason})
    except UnknownModel as exc:
        return error_response(404, "not found", str(exc))
    except WriteRefused as exc:
        return error_response(400, "invalid status", str(exc))
    except writes.PrimaryUnavailable as exc:
        return error_response(503, "the primary store cannot take the write", str(exc))
    return JsonResponse(
        {
            "written": {"model": slug, "region": mapping.status_region(record)},
            "primary": result.primary,
            "secondary": result.secondary,
        },
        status=200,
    )
