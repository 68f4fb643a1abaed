"""The one mapping between export records (DESIGN.md) and catalog rows, in both directions.

``backfill_json``, ``validate_migration`` and the JSON read backend all map through these
functions, so a record means the same thing everywhere.

Rules (each one documented in the README's "Mapping" section):

- Every source key without a column is kept, verbatim, in the row's ``metadata`` under its own
  name; a key the export calls ``metadata`` is kept the same way (``metadata["metadata"]``).
- ``null`` and an absent key are the same; a list field that is null or absent loads as ``[]``.
- Timestamps are ISO 8601; one without an offset is taken as UTC.
- A record that breaks a rule raises :class:`RecordError` naming the field: it is rejected (kept
  in the reject queue with that reason), never loaded half-right.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import marshal
import math
import re
from decimal import Decimal, InvalidOperation

from catalog.models import GLOBAL_REGION, Status

# Columns each mapped row carries (foreign keys are resolved by the loader): the API's columns.
from catalog.serializers import (  # noqa: F401
    MODEL_COLUMNS,
    PROVIDER_COLUMNS,
    STATUS_COLUMNS,
    format_timestamp,
)

# Bumped when the mapping changes, so that a re-run re-examines every row.
MAPPING_VERSION = 1

PROVIDER_FIELDS = {
    # export key: column
    "id": "source_id",
    "slug": "slug",
    "name": "name",
    "logoUrl": "logo_url",
    "websiteUrl": "website_url",
    "statusPageUrl": "status_page_url",
    "documentationUrl": "documentation_url",
    "regions": "regions",
}
MODEL_FIELDS = {
    "id": "source_id",
    "name": "name",
    "description": "description",
    "foundationModel": "foundation_model",
    "releasedAt": "released_at",
    "deprecatedAt": "deprecated_at",
    "modalities": "modalities",
    "capabilities": "capabilities",
    "tags": "tags",
    "contextWindow": "context_window",
    "maxOutputTokens": "max_output_tokens",
    "inputPrice": "input_price",
    "outputPrice": "output_price",
    "isActive": "is_active",
    "isFeatured": "is_featured",
}
STATUS_FIELDS = {
    "region": "region",
    "status": "status",
    "availability": "availability",
    "latencyP50": "latency_p50",
    "latencyP95": "latency_p95",
    "latencyP99": "latency_p99",
    "errorRate": "error_rate",
    "requestsPerMin": "requests_per_min",
    "tokensPerMin": "tokens_per_min",
    "usage": "usage",
    "checkedAt": "checked_at",
}
STATUS_VALUES = frozenset(Status.values)
PRICE_PLACES = 8
MAX_INT = 2**31 - 1
# Database limits the status columns need (issue 11; to be reconciled with the limits work):
# region is varchar(64); requests/tokens per minute are bigint; text cannot hold NUL.
MAX_BIGINT = 2**63 - 1
MAX_REGION_LENGTH = 64

_SLUG_SEPARATORS = re.compile(r"[^a-z0-9.]+")


class RecordError(ValueError):
    """A record that cannot be loaded as it is: ``field`` names what is wrong."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


def derive_model_slug(provider_slug: str, name: str) -> str:
    """``<provider slug>-<name>`` lower-cased, runs of characters other than ``a-z0-9.`` made
    ``-``, leading and trailing ``-`` trimmed (unlike Django's slugify, dots are kept)."""
    return _SLUG_SEPARATORS.sub("-", f"{provider_slug}-{name}".lower()).strip("-")


_HASH_PREFIX = f"mapping-v{MAPPING_VERSION}:".encode()


def source_hash(record) -> str:
    """A fingerprint of one source record as parsed (key order and number types included).

    It is compared only with the row the record's natural key names, so the key need not be in
    it. Equal fingerprints mean the record is unchanged since that row was loaded from it: the
    row need not be read or written. marshal (format 2) is deterministic and much cheaper than
    JSON; the mapping version is part of it, so a new mapping re-examines every row.
    """
    return _md5(_HASH_PREFIX + _marshal(record, 2)).hexdigest()


_md5 = hashlib.md5
_marshal = marshal.dumps


# --- Field parsers: each returns the column value or raises RecordError -------------------------


def _string(record, key, *, required=False):
    value = record.get(key)
    if value is None:
        if required:
            raise RecordError(f"{key} is required", key)
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key} must be a string, got {type(value).__name__}", key)
    if required and not value.strip():
        raise RecordError(f"{key} must not be empty", key)
    return value


def _string_list(record, key):
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RecordError(f"{key} must be a list of strings", key)
    return value


def _number(record, key, *, low=None, high=None):
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise RecordError(f"{key} must be a number, got {type(value).__name__}", key)
    value = float(value)
    if not math.isfinite(value):
        raise RecordError(f"{key} must be a finite number", key)
    if low is not None and value < low:
        raise RecordError(f"{key} must be at least {low:g}, got {value:g}", key)
    if high is not None and value > high:
        raise RecordError(f"{key} must be between {low:g} and {high:g}, got {value:g}", key)
    return value


def _count(record, key, *, maximum=None):
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{key} must be a whole number, got {value!r}", key)
    if value < 0:
        raise RecordError(f"{key} must not be negative, got {value}", key)
    if maximum is not None and value > maximum:
        raise RecordError(f"{key} must be at most {maximum}, got {value}", key)
    return value


def _boolean(record, key, default):
    value = record.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RecordError(f"{key} must be true or false, got {value!r}", key)
    return value


def parse_timestamp(value: str) -> dt.datetime:
    """An ISO 8601 timestamp (``Z`` or an offset; none means UTC) as an aware datetime."""
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _timestamp(record, key):
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key} must be an ISO 8601 timestamp string, got {value!r}", key)
    try:
        return parse_timestamp(value)
    except ValueError:
        raise RecordError(f"{key} is not an ISO 8601 timestamp: {value!r}", key) from None


def _price(record, key):
    value = _number(record, key, low=0)
    if value is None:
        return None
    try:
        price = Decimal(repr(value))
    except InvalidOperation:  # pragma: no cover - repr of a finite float always parses
        raise RecordError(f"{key} is not a number", key) from None
    if -price.as_tuple().exponent > PRICE_PLACES:
        raise RecordError(f"{key} has more than {PRICE_PLACES} decimal places: {value!r}", key)
    return price


def _extra(record, mapped_keys) -> dict:
    if record.keys() <= mapped_keys.keys():
        return {}
    return {key: value for key, value in record.items() if key not in mapped_keys}


def _object(record, what):
    if not isinstance(record, dict):
        raise RecordError(f"{what} must be a JSON object, got {type(record).__name__}")
    return record


# --- Records -> rows ---------------------------------------------------------------------------


def map_provider(record) -> dict:
    """A ``providers.json`` record as a provider row."""
    record = _object(record, "a provider")
    return {
        "slug": _string(record, "slug", required=True),
        "name": _string(record, "name", required=True),
        "source_id": _string(record, "id") or "",
        "logo_url": _string(record, "logoUrl"),
        "website_url": _string(record, "websiteUrl"),
        "status_page_url": _string(record, "statusPageUrl"),
        "documentation_url": _string(record, "documentationUrl"),
        "regions": _string_list(record, "regions"),
        "metadata": _extra(record, PROVIDER_FIELDS),
    }


EMBEDDED_PROVIDER_FIELDS = {"id": "slug", "name": "name", "website": "website_url"}


def map_embedded_provider(embedded) -> dict:
    """The provider a model embeds, as a provider row (for providers absent from providers.json)."""
    embedded = _object(embedded, "provider")
    slug = _string(embedded, "id", required=True)
    return {
        "slug": slug,
        "name": _string(embedded, "name") or slug,
        "source_id": "",
        "logo_url": None,
        "website_url": _string(embedded, "website"),
        "status_page_url": None,
        "documentation_url": None,
        "regions": [],
        "metadata": _extra(embedded, EMBEDDED_PROVIDER_FIELDS),
    }


def model_provider_slug(record) -> str:
    """The slug of the provider a models.json record names (its ``provider.id``)."""
    record = _object(record, "a model")
    provider = record.get("provider")
    if not isinstance(provider, dict):
        raise RecordError("provider must be an object with an id", "provider")
    try:
        return _string(provider, "id", required=True)
    except RecordError as exc:
        raise RecordError(f"provider.{exc.reason}", "provider.id") from None


def model_slug(record) -> tuple[str, str]:
    """``(provider slug, model slug)`` of a models.json record; raises if either cannot be told."""
    provider_slug = model_provider_slug(record)
    return provider_slug, derive_model_slug(provider_slug, _string(record, "name", required=True))


def map_model(record) -> dict:
    """A ``models.json`` record as a model row, plus ``provider_slug`` for the loader to resolve."""
    provider_slug = model_provider_slug(record)
    name = _string(record, "name", required=True)
    return {
        "provider_slug": provider_slug,
        "slug": derive_model_slug(provider_slug, name),
        "name": name,
        "source_id": _string(record, "id") or "",
        "description": _string(record, "description"),
        "foundation_model": _string(record, "foundationModel"),
        "released_at": _timestamp(record, "releasedAt"),
        "deprecated_at": _timestamp(record, "deprecatedAt"),
        "modalities": _string_list(record, "modalities"),
        "capabilities": _string_list(record, "capabilities"),
        "tags": _string_list(record, "tags"),
        "context_window": _count(record, "contextWindow", maximum=MAX_INT),
        "max_output_tokens": _count(record, "maxOutputTokens", maximum=MAX_INT),
        "input_price": _price(record, "inputPrice"),
        "output_price": _price(record, "outputPrice"),
        "is_active": _boolean(record, "isActive", True),
        "is_featured": _boolean(record, "isFeatured", False),
        # The embedded provider object stays verbatim in metadata: the row links by slug.
        "metadata": _extra(record, MODEL_FIELDS),
    }


def status_region(record) -> str:
    """The region a status record is for (``global`` without one); raises on a bad type."""
    if not isinstance(record, dict):
        return GLOBAL_REGION
    region = record.get("region")
    if region is None:
        return GLOBAL_REGION
    if not isinstance(region, str) or not region:
        raise RecordError("region must be a non-empty string", "region")
    if len(region) > MAX_REGION_LENGTH or "\x00" in region:
        raise RecordError(
            f"region must be at most {MAX_REGION_LENGTH} characters, without NUL", "region"
        )
    return region


def map_status(record) -> dict:
    """A ``model-status.json`` status as a status row (the model is resolved by the loader).

    An empty object is a model under watch with nothing measured yet: status ``unknown``.
    """
    record = _object(record, "a status")
    status = record.get("status")
    if status is None:
        status = Status.UNKNOWN.value
    if status not in STATUS_VALUES:
        raise RecordError(
            f"status must be one of {', '.join(sorted(STATUS_VALUES))}, got {status!r}", "status"
        )
    return {
        "region": status_region(record),
        "status": status,
        "availability": _number(record, "availability", low=0, high=100),
        "latency_p50": _number(record, "latencyP50", low=0),
        "latency_p95": _number(record, "latencyP95", low=0),
        "latency_p99": _number(record, "latencyP99", low=0),
        "error_rate": _number(record, "errorRate", low=0),
        "requests_per_min": _count(record, "requestsPerMin", maximum=MAX_BIGINT),
        "tokens_per_min": _count(record, "tokensPerMin", maximum=MAX_BIGINT),
        "usage": _number(record, "usage"),
        "checked_at": _timestamp(record, "checkedAt"),
        "metadata": _without_nul(_extra(record, STATUS_FIELDS)),
    }


def _without_nul(metadata: dict) -> dict:
    """``metadata`` itself, if no key or string in it holds NUL (PostgreSQL's jsonb cannot)."""
    pending = [(key, value) for key, value in metadata.items()]
    while pending:
        key, value = pending.pop()
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise RecordError(f"{key.split('.')[0]} must not contain NUL characters", key)
        if isinstance(value, dict):
            pending += [(f"{key}.{k}", v) for k, v in value.items()]
        elif isinstance(value, list):
            pending += [(key, v) for v in value]
    return metadata


_INF = float("inf")
_STATUS_KEYS = STATUS_FIELDS.keys()
_NONE = type(None)


def _fast_float(value, low, high):
    """``value`` as a float within [low, high] (finite), None for None; raise _Slow otherwise."""
    kind = type(value)
    if kind is float or kind is int:
        value = float(value)
        if low <= value <= high and value != _INF:  # NaN fails the range test
            return value
    elif kind is _NONE:
        return None
    raise _Slow


class _Slow(Exception):
    """The record needs map_status: something about it is unusual."""


def status_values(record: dict, region: str) -> tuple | None:
    """The values of map_status(record), in STATUS_COLUMNS order, by the quickest route.

    The backfill's hot path: plain records (the overwhelming majority) are checked and mapped
    here without building a dict; None means "anything unusual", and then map_status decides
    (and names the field when it rejects). Both must agree: a test holds them to it.
    """
    get = record.get
    status = get("status")
    if status is None:
        status = "unknown"
    elif status not in STATUS_VALUES:
        return None
    requests, tokens, checked = get("requestsPerMin"), get("tokensPerMin"), get("checkedAt")
    if (
        (requests is not None and (type(requests) is not int or not 0 <= requests <= MAX_BIGINT))
        or (tokens is not None and (type(tokens) is not int or not 0 <= tokens <= MAX_BIGINT))
        or (checked is not None and type(checked) is not str)
    ):
        return None
    try:
        values = (
            region,
            status,
            _fast_float(get("availability"), 0.0, 100.0),
            _fast_float(get("latencyP50"), 0.0, _INF),
            _fast_float(get("latencyP95"), 0.0, _INF),
            _fast_float(get("latencyP99"), 0.0, _INF),
            _fast_float(get("errorRate"), 0.0, _INF),
            requests,
            tokens,
            _fast_float(get("usage"), -_INF, _INF),
            None if checked is None else parse_timestamp(checked),
            {} if record.keys() <= _STATUS_KEYS else _without_nul(_extra(record, STATUS_FIELDS)),
        )
    except (_Slow, ValueError):
        return None
    return values


def status_warnings(p50, p95, p99, checked_at, *, now: dt.datetime) -> list[str]:
    """Data-quality remarks about a status's values that do not stop it from loading."""
    warnings = []
    if p95 is not None and p99 is not None and p99 < p95:
        warnings.append(f"latencyP99 {p99:g} < latencyP95 {p95:g}")
    if p50 is not None and p95 is not None and p95 < p50:
        warnings.append(f"latencyP95 {p95:g} < latencyP50 {p50:g}")
    if checked_at is not None and checked_at > now:
        warnings.append(f"checkedAt {format_timestamp(checked_at)} is in the future")
    return warnings


# --- Rows -> records (writing the export back out) ----------------------------------------------


def _float_out(value):
    return None if value is None else float(value)


def unmap_provider(row: dict) -> dict:
    record = {
        "id": row["source_id"],
        "slug": row["slug"],
        "name": row["name"],
        "logoUrl": row["logo_url"],
        "websiteUrl": row["website_url"],
        "statusPageUrl": row["status_page_url"],
        "documentationUrl": row["documentation_url"],
        "regions": row["regions"],
    }
    return record | row["metadata"]


def unmap_model(row: dict, provider: dict) -> dict:
    """A model row as a models.json record; ``provider`` is its provider row."""
    record = {
        "id": row["source_id"],
        "name": row["name"],
        "provider": {
            "id": provider["slug"],
            "name": provider["name"],
            "website": provider["website_url"],
        },
        "description": row["description"],
        "foundationModel": row["foundation_model"],
        "releasedAt": format_timestamp(row["released_at"]),
        "deprecatedAt": format_timestamp(row["deprecated_at"]),
        "modalities": row["modalities"],
        "capabilities": row["capabilities"],
        "tags": row["tags"],
        "contextWindow": row["context_window"],
        "maxOutputTokens": row["max_output_tokens"],
        "inputPrice": _float_out(row["input_price"]),
        "outputPrice": _float_out(row["output_price"]),
        "isActive": row["is_active"],
        "isFeatured": row["is_featured"],
    }
    # The embedded provider kept verbatim in metadata wins over the one rebuilt from the row,
    # unless the model has moved to another provider since.
    metadata = row["metadata"]
    embedded = metadata.get("provider")
    if isinstance(embedded, dict) and embedded.get("id") != provider["slug"]:
        metadata = {k: v for k, v in metadata.items() if k != "provider"}
    return record | metadata


def unmap_status(row: dict) -> dict:
    record = {
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
    }
    return record | row["metadata"]
