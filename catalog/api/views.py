"""The read API (``/api/v1/...``): parse the query, then let the migrator's router pick the
store that answers (see migrator/serving.py)."""

from __future__ import annotations

import math

from django.views.decorators.http import require_GET

from catalog.api.params import ModelListParams
from migrator.serving import error_response, serve


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
