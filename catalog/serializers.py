"""The read API's shapes (camelCase, as the export and the dashboard use), built from column dicts.

Both read backends hand these functions plain dicts keyed by column name, so a row read from the
database and the same row mapped from the export serialize to the same bytes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from catalog.models import GLOBAL_REGION, STATUS_SEVERITY

PROVIDER_COLUMNS = (
    "slug",
    "name",
    "source_id",
    "logo_url",
    "website_url",
    "status_page_url",
    "documentation_url",
    "regions",
    "metadata",
)
MODEL_COLUMNS = (
    "slug",
    "name",
    "source_id",
    "description",
    "foundation_model",
    "released_at",
    "deprecated_at",
    "modalities",
    "capabilities",
    "tags",
    "context_window",
    "max_output_tokens",
    "input_price",
    "output_price",
    "is_active",
    "is_featured",
    "metadata",
)
STATUS_COLUMNS = (
    "region",
    "status",
    "availability",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "error_rate",
    "requests_per_min",
    "tokens_per_min",
    "usage",
    "checked_at",
    "metadata",
)


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


def status_to_api(row: dict) -> dict:
    return {
        "region": row["region"],
        "status": row["status"],
        "availability": row["availability"],
        "latencyP50": row["latency_p50"],
        "latencyP95": row["latency_p95"],
        "latencyP99": row["latency_p99"],
        "errorRate": row["error_rate"],
        "requestsPerMin": row["requests_per_min"],
        "tokensPerMin": row["tokens_per_min"],
        "usage": row["usage"],
        "checkedAt": format_timestamp(row["checked_at"]),
        "metadata": row["metadata"],
    }


def model_to_api(row: dict, provider: dict, statuses: list[dict], *, detail: bool = False) -> dict:
    """A model with its provider embedded and its headline status (all statuses when ``detail``)."""
    headline = headline_status(statuses)
    body = {
        "id": row["source_id"] or row["slug"],
        "slug": row["slug"],
        "name": row["name"],
        "provider": provider,
        "description": row["description"],
        "foundationModel": row["foundation_model"],
        "modalities": row["modalities"],
        "capabilities": row["capabilities"],
        "tags": row["tags"],
        "contextWindow": row["context_window"],
        "maxOutputTokens": row["max_output_tokens"],
        "inputPrice": _number(row["input_price"]),
        "outputPrice": _number(row["output_price"]),
        "releasedAt": format_timestamp(row["released_at"]),
        "deprecatedAt": format_timestamp(row["deprecated_at"]),
        "isActive": row["is_active"],
        "isFeatured": row["is_featured"],
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
