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
import unicodedata

from anyascii import anyascii

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
from catalog.models import GLOBAL_REGION, Model, Provider, StatusOrigin
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


# Symbols that tell models apart ("Command R" and "Command R+"): spelled, never dropped.
SPELLED_SYMBOLS = {
    "+": " plus ",
    "&": " and ",
    "@": " at ",
    "#": " sharp ",
    "%": " percent ",
    "*": " star ",
    "=": " equals ",
}
_SPELL = str.maketrans(SPELLED_SYMBOLS)


def spelled_model_slug(provider_slug: str, name: str) -> str:
    """The slug of a name with nothing that tells models apart dropped: compatibility forms
    folded (full-width Latin), symbols spelled (``+`` → ``plus``), other scripts transliterated
    (anyascii), then :func:`derive_model_slug`. Two names with the same spelled slug differ only
    in case and punctuation: they are the same model."""
    text = unicodedata.normalize("NFKC", name).translate(_SPELL)
    return derive_model_slug(provider_slug, anyascii(text))


def is_degenerate(provider_slug: str, slug: str) -> bool:
    """A slug the name added nothing to (a name in another script reduces to the provider)."""
    return slug == provider_slug or not slug.startswith(f"{provider_slug}-")


def _object(record, what):
    if type(record) is not dict:
        raise RecordError(f"{what} must be a JSON object, got {type(record).__name__}")
    return record


_READERS: dict[int, object] = {}  # the field tables live as long as the process
_ROW_READERS: dict[int, object] = {}


def _values(fields, record: dict, columns: tuple[str, ...] | None = None):
    """The column values of ``record`` for ``fields``, in order (a dict by column, given
    ``columns``: see catalog.fields.reader); raises naming the field."""
    # By identity: hashing the Field tuple costs more than reading.
    readers = _READERS if columns is None else _ROW_READERS
    read = readers.get(id(fields))
    if read is None:
        read = readers[id(fields)] = reader(fields, columns)
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
_REGION_FIELDS = STATUS_FIELDS[:1]  # one tuple: readers are cached by the table's identity


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
    slug = embedded_provider_slug(embedded)
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


def embedded_provider_slug(embedded: dict) -> str:
    slug = embedded.get("id")
    if type(slug) is not str or not slug.strip():
        raise RecordError("provider.id is required (a non-empty string)", "provider.id")
    try:
        return check_text(slug, _PROVIDER_SLUG_LENGTH)
    except InvalidValue as exc:
        raise RecordError(f"provider.id {exc.reason}", "provider.id") from None


def embedded_provider(record) -> dict:
    """The provider a models.json record names, as an object ``{id, name, website, ...}``: the
    object itself, or, for a plain string (an older exporter's), ``{"id": <its slug>, "name":
    <the string>}`` — the string lower-cased with runs of other characters than ``a-z0-9.``
    made ``-`` (``"Google DeepMind"`` → ``google-deepmind``; a slug stays itself)."""
    record = _object(record, "a model")
    provider = record.get("provider")
    if type(provider) is str:
        if not provider.strip():
            raise RecordError("provider is required (an object with an id, or a name)", "provider")
        slug = provider_slug_of_name(provider)
        if not slug:
            raise RecordError(f"provider {provider!r} gives no slug", "provider")
        return {"id": slug, "name": provider}
    if type(provider) is not dict:
        raise RecordError("provider must be an object with an id, or a name", "provider")
    return provider


def provider_slug_of_name(name: str) -> str:
    """A provider slug for a provider given by its name only."""
    text = anyascii(unicodedata.normalize("NFKC", name))
    return _SLUG_SEPARATORS.sub("-", text.lower()).strip("-")


def model_provider_slug(record) -> str:
    """The slug of the provider a models.json record names (its ``provider.id``)."""
    return embedded_provider_slug(embedded_provider(record))


def model_name(record) -> str:
    name = _object(record, "a model").get("name")
    if type(name) is not str or not name.strip():
        raise RecordError("name is required (a non-empty string)", "name")
    return name


def check_slug_length(slug: str) -> str:
    if len(slug) > _SLUG_LENGTH:
        raise RecordError(
            f"name gives a slug of {len(slug)} characters; at most {_SLUG_LENGTH} fit", "name"
        )
    return slug


def model_slug(record) -> tuple[str, str]:
    """``(provider slug, model slug)`` of a models.json record on its own (today's slug; the
    spelled one when that reduces to the provider); raises if either cannot be told. The
    acceptance pipeline decides slugs over the whole export (see pipeline.ModelSlugs)."""
    provider_slug = model_provider_slug(record)
    name = model_name(record)
    slug = derive_model_slug(provider_slug, name)
    if is_degenerate(provider_slug, slug):
        slug = spelled_model_slug(provider_slug, name)
    return provider_slug, check_slug_length(slug)


def map_model(record, *, provider_slug: str | None = None, slug: str | None = None) -> dict:
    """A ``models.json`` record as a model row, plus ``provider_slug`` for the loader to resolve.
    ``provider_slug`` and ``slug``, when the pipeline has decided them, are taken as given."""
    if slug is None:
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
    return _values(_REGION_FIELDS, record)[0]


def embedded_status(record: dict) -> dict | None:
    """A model's own headline status in models.json, as a status record for region ``global``:
    its ``status`` object (or a ``status`` string) with the model's top-level ``availability``
    where the object has none; None when the model states no status at all."""
    status, availability = record.get("status"), record.get("availability")
    if status is None and availability is None:
        return None
    if type(status) is dict:
        embedded = dict(status)
    elif status is None:
        embedded = {}
    else:
        embedded = {"status": status}  # a string, or a wrong type the status rules reject
    if availability is not None and embedded.get("availability") is None:
        embedded["availability"] = availability
    embedded.setdefault("region", GLOBAL_REGION)
    return embedded


def map_status(record, *, origin: str = StatusOrigin.STATUS_FILE) -> dict:
    """A ``model-status.json`` status as a status row (the model is resolved by the loader).

    An empty object is a model under watch with nothing measured yet: status ``unknown``.
    ``origin``: the file it comes from (``models_file`` for a model's own status).
    """
    if type(record) is not dict:
        _object(record, "a status")
    row = _values(STATUS_FIELDS, record, STATUS_COLUMNS)
    row["metadata"] = {} if record.keys() <= _STATUS_NAMES else _extra(record, _STATUS_NAMES)
    # Its plain text, not the enum member: rows cross to the loading process pickled, and a
    # member is unpickled by a lookup per row (measured: 2.8 us of 4.3 per status row).
    row["origin"] = origin if type(origin) is str else origin.value
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
