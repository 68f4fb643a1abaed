"""The read API (``/api/v1/...``): parse, ask the serving backend, wrap in the response envelope."""

from __future__ import annotations

import math

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from catalog.api.params import ModelListParams
from catalog.backends import BackendUnavailable, get_backend
from catalog.serializers import format_timestamp


def error_response(status: int, error: str, detail=None) -> JsonResponse:
    body = {"error": error}
    if detail is not None:
        body["detail"] = detail
    return JsonResponse(body, status=status)


def _serve(read) -> JsonResponse:
    """Run ``read(backend)`` on the serving backend and add the envelope every read carries."""
    backend = get_backend("database")
    try:
        body = read(backend)
    except BackendUnavailable as exc:
        return error_response(503, "no data store can answer", str(exc))
    if isinstance(body, JsonResponse):
        return body
    body.update(
        timestamp=format_timestamp(timezone.now()),
        dataSource=backend.name,
        cached=False,
        fallbackReason=None,
    )
    return JsonResponse(body)


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

    return _serve(read)


@require_GET
def model_detail(request, slug: str):
    def read(backend):
        model = backend.get_model(slug)
        if model is None:
            return error_response(404, "not found", f"no model with slug {slug!r}")
        return {"model": model}

    return _serve(read)


@require_GET
def provider_list(request):
    def read(backend):
        providers = backend.list_providers()
        return {"providers": providers, "total": len(providers)}

    return _serve(read)


@require_GET
def status(request):
    return _serve(lambda backend: backend.status_summary())
