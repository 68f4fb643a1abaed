"""The read API's shapes (camelCase, as the export and the dashboard use), built from column dicts.

Both read backends hand these functions plain dicts keyed by column name, so a row read from the
database and the same row mapped from the export serialize to the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import orjson
from django.core.serializers.json import DjangoJSONEncoder

from catalog.fields import (  # noqa: F401  (the column lists are part of this module's API)
    MODEL_COLUMNS,
    MODEL_FIELDS,
    PROVIDER_COLUMNS,
    STATUS_COLUMNS,
    STATUS_FIELDS,
    TIMESTAMP,
)
from catalog.models import GLOBAL_REGION, STATUS_SEVERITY

# Model fields the API shows under their own name (id, slug, name and provider are shaped apart).
_MODEL_SHOWN = tuple(f for f in MODEL_FIELDS if f.column not in ("name", "source_id"))


def format_timestamp(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, milliseconds when they suffice (the export's own format)."""
    if value is None:
        return None
    value = value.astimezone(dt.UTC)
    if value.microsecond % 1000 == 0:
        text = value.isoformat(timespec="milliseconds")
    else:
        text = value.isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def _number(value):
    return float(value) if isinstance(value, Decimal) else value


def headline_key(status: dict):
    """Sort key putting a model's headline status first: the worst, ``global`` before regions."""
    return (-STATUS_SEVERITY[status["status"]], status["region"] != GLOBAL_REGION, status["region"])


def headline_status(statuses: list[dict]) -> dict | None:
    return min(statuses, key=headline_key) if statuses else None


def provider_ref(slug: str, name: str, website_url: str | None) -> dict:
    """The provider as embedded in a model (the export's ``provider`` object, plus ``slug``)."""
    return {"id": slug, "slug": slug, "name": name, "websiteUrl": website_url}


def provider_to_api(row: dict, *, model_count: int, active_model_count: int, avg_availability):
    return {
        "id": row["slug"],
        "slug": row["slug"],
        "name": row["name"],
        "sourceId": row["source_id"],
        "logoUrl": row["logo_url"],
        "websiteUrl": row["website_url"],
        "statusPageUrl": row["status_page_url"],
        "documentationUrl": row["documentation_url"],
        "regions": row["regions"],
        "metadata": row["metadata"],
        "modelCount": model_count,
        "activeModelCount": active_model_count,
        "avgAvailability": avg_availability,
    }


def _shown(field, value):
    if field.kind == TIMESTAMP:
        return format_timestamp(value)
    return _number(value) if isinstance(value, Decimal) else value


def status_to_api(row: dict) -> dict:
    body = {f.name: _shown(f, row[f.column]) for f in STATUS_FIELDS}
    body["metadata"] = row["metadata"]
    return body


def model_to_api(row: dict, provider: dict, statuses: list[dict], *, detail: bool = False) -> dict:
    """A model with its provider embedded and its headline status (all statuses when ``detail``)."""
    headline = headline_status(statuses)
    body = {
        "id": row["source_id"] or row["slug"],
        "slug": row["slug"],
        "name": row["name"],
        "provider": provider,
        **{f.name: _shown(f, row[f.column]) for f in _MODEL_SHOWN},
        "status": status_to_api(headline) if headline else None,
        "availability": headline["availability"] if headline else None,
        "metadata": row["metadata"],
    }
    if detail:
        body["statuses"] = [status_to_api(s) for s in sorted(statuses, key=_region_key)]
    return body


def _region_key(status: dict):
    return (status["region"] != GLOBAL_REGION, status["region"])


def summary_to_api(
    *,
    providers: int,
    models: int,
    active_models: int,
    statuses: int,
    headline_counts: dict[str, int],
    avg_availability,
    last_update: dt.datetime | None,
) -> dict:
    with_status = sum(headline_counts.values())
    return {
        "totalProviders": providers,
        "totalModels": models,
        "activeModels": active_models,
        "totalStatuses": statuses,
        "operational": headline_counts.get("operational", 0),
        "degraded": headline_counts.get("degraded", 0),
        "outage": headline_counts.get("outage", 0),
        "unknown": headline_counts.get("unknown", 0),
        "unmonitored": models - with_status,
        "avgAvailability": avg_availability,
        "lastUpdate": format_timestamp(last_update),
    }


# --- the bytes sent -------------------------------------------------------------------------

_DJANGO_DEFAULT = DjangoJSONEncoder().default
# Datetimes too go through Django's encoder, as they would through JsonResponse.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def encode(body) -> bytes:
    """``body`` as the API sends it: compact UTF-8 JSON, by orjson (about ten times faster than
    the standard library on a page of models). A value orjson refuses (an integer beyond 64
    bits in a model's metadata, a string that is not valid Unicode) is sent as Django's
    JsonResponse would (the standard library, with Django's encoder for dates and decimals),
    compact too: the same body from either store is the same bytes."""
    try:
        return orjson.dumps(body, default=_DJANGO_DEFAULT, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
