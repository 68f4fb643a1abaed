"""The one mapping between export records (docs/export-format.md) and catalog rows, both ways.

Everything is derived from the field table (catalog.fields): which export key fills which
column, and what a value must be to be stored. Rules (each in the README's "The export and its
mapping"):

- Every source key without a column is kept, verbatim, in the row's ``metadata`` under its own
  name; a key the export calls ``metadata`` is kept the same way (``metadata["metadata"]``).
- ``null`` and an absent key are the same; a list field that is null or absent loads as ``[]``.
- Timestamps are ISO 8601, stored in UTC; one without an offset is taken as UTC.
- A record that breaks a rule raises :class:`RecordError` naming the field: it is rejected (kept
  in the reject queue with that reason), never loaded half-right.
"""

from __future__ import annotations

import datetime as dt
import re

from catalog.fields import (
    MODEL_COLUMNS,
    MODEL_FIELDS,
    PROVIDER_COLUMNS,
    PROVIDER_FIELDS,
    STATUS_COLUMNS,
    STATUS_FIELDS,
    FieldError,
    InvalidValue,
    check_json,
    check_text,
    parse_timestamp,
    reader,
)
from catalog.models import GLOBAL_REGION, Model, Provider
from catalog.serializers import format_timestamp

__all__ = [
    "MODEL_COLUMNS",
    "PROVIDER_COLUMNS",
    "STATUS_COLUMNS",
    "RecordError",
    "derive_model_slug",
    "export_name",
    "format_timestamp",
    "map_embedded_provider",
    "map_model",
    "map_provider",
    "map_status",
    "model_slug",
    "parse_timestamp",
    "status_region",
    "status_warnings",
    "unmap_model",
    "unmap_provider",
    "unmap_status",
]

_SLUG_SEPARATORS = re.compile(r"[^a-z0-9.]+")
_SLUG_LENGTH = Model._meta.get_field("slug").max_length
_PROVIDER_SLUG_LENGTH = Provider._meta.get_field("slug").max_length
# The export's names for the provider a model embeds, and the columns they fill.
EMBEDDED_PROVIDER_FIELDS = {"id": "slug", "name": "name", "website": "website_url"}
_EXPORT_NAMES = {
    "providers": {f.column: f.name for f in PROVIDER_FIELDS},
    "models": {f.column: f.name for f in MODEL_FIELDS} | {"provider_slug": "provider.id"},
    "statuses": {f.column: f.name for f in STATUS_FIELDS},
}


class RecordError(ValueError):
    """A record that cannot be loaded as it is: ``field`` names what is wrong."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


def export_name(entity: str, column: str) -> str:
    """The export's name for a column (``metadata.<key>`` names stay as they are)."""
    return _EXPORT_NAMES[entity].get(column, column)


def derive_model_slug(provider_slug: str, name: str) -> str:
    """``<provider slug>-<name>`` lower-cased, runs of characters other than ``a-z0-9.`` made
    ``-``, leading and trailing ``-`` trimmed (unlike Django's slugify, dots are kept)."""
    return _SLUG_SEPARATORS.sub("-", f"{provider_slug}-{name}".lower()).strip("-")


def _object(record, what):
    if type(record) is not dict:
        raise RecordError(f"{what} must be a JSON object, got {type(record).__name__}")
    return record


_READERS: dict[int, object] = {}  # the field tables live as long as the process


def _values(fields, record: dict) -> list:
    """The column values of ``record`` for ``fields``, in order; raises naming the field."""
    read = _READERS.get(id(fields))  # by identity: hashing the Field tuple costs more than reading
    if read is None:
        read = _READERS[id(fields)] = reader(fields)
    try:
        return read(record)
    except FieldError as exc:
        name = exc.field.name
        raise RecordError(f"{name} {exc.reason}", name) from None


def _extra(record: dict, names) -> dict:
    """Keys without a column of their own, kept as they are (if both databases can hold them)."""
    if record.keys() <= names:
        return {}
    extra = {}
    for key, value in record.items():
        if key in names:
            continue
        try:
            check_text(key)
            check_json(value)
        except InvalidValue as exc:
            raise RecordError(f"{key} {exc.reason}", key) from None
        extra[key] = value
    return extra


_PROVIDER_NAMES = frozenset(f.name for f in PROVIDER_FIELDS)
_MODEL_NAMES = frozenset(f.name for f in MODEL_FIELDS)
_STATUS_NAMES = frozenset(f.name for f in STATUS_FIELDS)


# --- Records -> rows ---------------------------------------------------------------------------


def map_provider(record) -> dict:
    """A ``providers.json`` record as a provider row."""
    record = _object(record, "a provider")
    row = dict(zip(PROVIDER_COLUMNS, _values(PROVIDER_FIELDS, record), strict=False))
    row["metadata"] = _extra(record, _PROVIDER_NAMES)
    return row


def map_embedded_provider(embedded) -> dict:
    """The provider a model embeds, as a provider row (for providers absent from providers.json)."""
    embedded = _object(embedded, "provider")
    slug = _provider_slug(embedded)
    name = embedded.get("name")
    website = embedded.get("website")
    for key, value in (("name", name), ("website", website)):
        if value is not None and type(value) is not str:
            raise RecordError(
                f"provider.{key} must be a string, got {type(value).__name__}", f"provider.{key}"
            )
    try:
        name = check_text(name, Provider._meta.get_field("name").max_length) if name else slug
        website = check_text(website, 2048) if website is not None else None
        metadata = _extra(embedded, EMBEDDED_PROVIDER_FIELDS.keys())
    except (InvalidValue, RecordError) as exc:
        raise RecordError(f"provider: {exc}", "provider") from None
    return {
        "slug": slug,
        "name": name,
        "source_id": "",
        "logo_url": None,
        "website_url": website,
        "status_page_url": None,
        "documentation_url": None,
        "regions": [],
        "metadata": metadata,
    }


def _provider_slug(embedded: dict) -> str:
    slug = embedded.get("id")
    if type(slug) is not str or not slug.strip():
        raise RecordError("provider.id is required (a non-empty string)", "provider.id")
    try:
        return check_text(slug, _PROVIDER_SLUG_LENGTH)
    except InvalidValue as exc:
        raise RecordError(f"provider.id {exc.reason}", "provider.id") from None


def model_provider_slug(record) -> str:
    """The slug of the provider a models.json record names (its ``provider.id``)."""
    record = _object(record, "a model")
    provider = record.get("provider")
    if type(provider) is not dict:
        raise RecordError("provider must be an object with an id", "provider")
    return _provider_slug(provider)


def model_slug(record) -> tuple[str, str]:
    """``(provider slug, model slug)`` of a models.json record; raises if either cannot be told."""
    provider_slug = model_provider_slug(record)
    name = record.get("name")
    if type(name) is not str or not name.strip():
        raise RecordError("name is required (a non-empty string)", "name")
    slug = derive_model_slug(provider_slug, name)
    if len(slug) > _SLUG_LENGTH:
        raise RecordError(
            f"name gives a slug of {len(slug)} characters; at most {_SLUG_LENGTH} fit", "name"
        )
    return provider_slug, slug


def map_model(record) -> dict:
    """A ``models.json`` record as a model row, plus ``provider_slug`` for the loader to resolve."""
    provider_slug, slug = model_slug(record)
    row = {"provider_slug": provider_slug, "slug": slug}
    row.update(zip(MODEL_COLUMNS[1:], _values(MODEL_FIELDS, record), strict=False))
    # The embedded provider object stays verbatim in metadata: the row links by slug.
    row["metadata"] = _extra(record, _MODEL_NAMES)
    return row


def status_region(record) -> str:
    """The region a status record is for (``global`` without one); raises on a bad value."""
    if type(record) is not dict:
        return GLOBAL_REGION
    return _values(STATUS_FIELDS[:1], record)[0]


def map_status(record) -> dict:
    """A ``model-status.json`` status as a status row (the model is resolved by the loader).

    An empty object is a model under watch with nothing measured yet: status ``unknown``.
    """
    record = _object(record, "a status")
    row = dict(zip(STATUS_COLUMNS, _values(STATUS_FIELDS, record), strict=False))
    row["metadata"] = _extra(record, _STATUS_NAMES)
    return row


def status_warnings(row: dict, raw, *, now: dt.datetime) -> list[tuple[str, str]]:
    """Data-quality remarks on a status that loads, as ``(kind, detail)``: they do not stop it,
    they are reported (the same by backfill_json and validate_migration)."""
    warnings = []
    p50, p95, p99 = row["latency_p50"], row["latency_p95"], row["latency_p99"]
    if p95 is not None and p99 is not None and p99 < p95:
        warnings.append(("latencyP99 < latencyP95", f"latencyP99 {p99:g} < latencyP95 {p95:g}"))
    if p50 is not None and p95 is not None and p95 < p50:
        warnings.append(("latencyP95 < latencyP50", f"latencyP95 {p95:g} < latencyP50 {p50:g}"))
    checked_at = row["checked_at"]
    if checked_at is not None and checked_at > now:
        when = format_timestamp(checked_at)
        warnings.append(("checkedAt in the future", f"checkedAt {when} is in the future"))
    if raw == {}:
        warnings.append(
            ("empty status object", "empty status object: loaded as unknown, nothing measured")
        )
    return warnings


# --- Rows -> records (writing the export back out) ----------------------------------------------


def _out(field, value):
    if value is None:
        return None
    if field.kind == "timestamp":
        return format_timestamp(value)
    if field.kind == "price":
        return float(value)
    return value


def unmap_provider(row: dict) -> dict:
    record = {"id": row["source_id"], "slug": row["slug"]}
    record.update((f.name, _out(f, row[f.column])) for f in PROVIDER_FIELDS)
    return record | row["metadata"]


def unmap_model(row: dict, provider: dict) -> dict:
    """A model row as a models.json record; ``provider`` is its provider row.

    The fields kept in ``metadata`` follow the columns in the order they are stored, so that
    mapping the record again gives the same metadata, key order included (SQLite compares JSON
    text, in which order counts).
    """
    record = {"id": row["source_id"], "name": row["name"]}
    record.update((f.name, _out(f, row[f.column])) for f in MODEL_FIELDS)
    rebuilt = {
        "id": provider["slug"],
        "name": provider["name"],
        "website": provider["website_url"],
    }
    metadata = row["metadata"]
    if "provider" not in metadata:
        return record | {"provider": rebuilt} | metadata
    # The embedded provider kept verbatim wins over the one rebuilt from the row, unless the
    # model has moved to another provider since.
    embedded = metadata["provider"]
    if isinstance(embedded, dict) and embedded.get("id") != provider["slug"]:
        metadata = {k: rebuilt if k == "provider" else v for k, v in metadata.items()}
    return record | metadata


def unmap_status(row: dict) -> dict:
    record = {f.name: _out(f, row[f.column]) for f in STATUS_FIELDS}
    return record | row["metadata"]
