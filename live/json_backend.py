"""The JSON read backend: the catalog served straight from the export, as backfill would load it.

The export is read once with the same reader and mapping as backfill_json (the same records are
kept, the same ones left out), held in memory in a compact form (Snapshot), and read again only
when its files change (their size and modification time; for a URL, after JSON_EXPORT_TTL
seconds and only if its ETag or Last-Modified moved). Filtering, ordering and counting follow
the database backend's rules exactly, so that both answer with identical bodies.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import operator
import pickle
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections import defaultdict
from decimal import Decimal, localcontext
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from catalog import serializers
from catalog.aggregates import EXACT_DIGITS, exact_sum, mean_of_sum
from catalog.backends.base import BackendUnavailable, CatalogBackend, ModelPage, ModelQuery
from catalog.fields import STATUS_COLUMNS
from migrator import source
from migrator.errors import SourceError
from migrator.models import Entity
from migrator.pipeline import Acceptance, Accepted, load_aliases

logger = logging.getLogger(__name__)


class Snapshot:
    """One export, mapped, in a compact form: provider rows by slug, model rows in slug order,
    and per model its statuses packed (one pickled, zlib-compressed list of rows, each a tuple in
    STATUS_COLUMNS order, repeated strings and timestamps shared) plus what the lists and the
    aggregates need (its headline status, its status count, the exact sum of its availabilities,
    its last check). A worker then holds about a tenth of the parsed export; a model's statuses
    are unpacked only for its detail."""

    def __init__(self, providers: dict[str, dict], models: list[dict], signature: tuple):
        self.providers = providers
        self.models = models
        self.signature = signature
        self.models_by_slug = {row["slug"]: row for row in models}
        self._packed: dict[str, bytes] = {}
        self._facts: dict[str, _ModelFacts] = {}
        self._shared: dict = {}

    @classmethod
    def read(cls, files: dict[str, source.ExportFile], signature: tuple) -> Snapshot:
        """The export through the acceptance pipeline: exactly the records backfill loads."""
        acceptance = Acceptance(
            now=timezone.now(),
            known_models=None if "models" in files else (),
            aliases=_aliases(),
        )
        providers: dict[str, dict] = {}
        models: dict[str, dict] = {}
        if "providers" in files:
            for item in acceptance.providers_from(source.iter_records(files["providers"])):
                if isinstance(item, Accepted):
                    providers[item.key] = item.row
        if "models" in files:
            records = source.iter_records(files["models"])
            for item in acceptance.models_from(records, export_file=files["models"]):
                if isinstance(item, Accepted):
                    (providers if item.entity == Entity.PROVIDERS else models)[item.key] = item.row
        snapshot = cls(providers=providers, models=[], signature=signature)
        # A model's statuses arrive one after another (one key of model-status.json, or its own
        # status from models.json): packed as soon as the next model's begin.
        parent, rows = None, []
        accepted = []
        if "statuses" in files:
            accepted.append(acceptance.statuses_from(source.iter_records(files["statuses"])))
        accepted.append(acceptance.embedded_statuses())
        for items in accepted:
            for item in items:
                if not isinstance(item, Accepted):
                    continue
                if item.parent != parent:
                    snapshot._add_statuses(parent, rows)
                    parent, rows = item.parent, []
                rows.append(item.row)
        snapshot._add_statuses(parent, rows)
        snapshot._shared = {}
        ordered = [models[slug] for slug in sorted(models)]
        snapshot.models = ordered
        snapshot.models_by_slug = {row["slug"]: row for row in ordered}
        snapshot._aggregate()
        return snapshot

    def _add_statuses(self, model_slug: str | None, rows: list[dict]) -> None:
        if not rows:
            return
        rows = self.statuses(model_slug) + rows  # (a model seen before: none in a valid export)
        shared = self._shared
        packed = []
        for row in rows:
            values = list(_ROW(row))
            for index in _SHARED_COLUMNS:
                value = values[index]
                values[index] = shared.setdefault(value, value)
            packed.append(tuple(values))
        self._packed[model_slug] = zlib.compress(
            pickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL), 1
        )
        checked = [row["checked_at"] for row in rows if row["checked_at"] is not None]
        headline = serializers.headline_status(rows)
        self._facts[model_slug] = _ModelFacts(
            count=len(rows),
            availability=_ExactSum.of(row["availability"] for row in rows),
            last_check=max(checked, default=None),
            headline=tuple(headline[column] for column in STATUS_COLUMNS),
        )

    def statuses(self, model_slug: str) -> list[dict]:
        """A model's statuses (rows, as the export gave them): unpacked anew on each call."""
        packed = self._packed.get(model_slug)
        if packed is None:
            return []
        rows = pickle.loads(zlib.decompress(packed))  # noqa: S301 (bytes this process packed)
        return [dict(zip(STATUS_COLUMNS, row, strict=True)) for row in rows]

    def headline(self, model_slug: str) -> dict | None:
        facts = self._facts.get(model_slug)
        return None if facts is None else dict(zip(STATUS_COLUMNS, facts.headline, strict=True))

    def headline_value(self, model_slug: str) -> str | None:
        facts = self._facts.get(model_slug)
        return None if facts is None else facts.headline[_STATUS_INDEX]

    def _aggregate(self) -> None:
        """The providers' and the status summary's figures, once per export."""
        by_provider: dict[str, list[dict]] = defaultdict(list)
        for row in self.models:
            by_provider[row["provider_slug"]].append(row)
        self.provider_figures = {}
        for slug in self.providers:
            rows = by_provider.get(slug, [])
            availability = _ExactSum()
            for row in rows:
                facts = self._facts.get(row["slug"])
                if facts is not None:
                    availability.add(facts.availability)
            self.provider_figures[slug] = {
                "model_count": len(rows),
                "active_model_count": sum(1 for row in rows if row["is_active"]),
                "avg_availability": availability.mean(),
            }
        headline_counts: dict[str, int] = defaultdict(int)
        availability, total, checked = _ExactSum(), 0, []
        for row in self.models:
            facts = self._facts.get(row["slug"])
            if facts is None:
                continue
            total += facts.count
            headline_counts[facts.headline[_STATUS_INDEX]] += 1
            availability.add(facts.availability)
            if facts.last_check is not None:
                checked.append(facts.last_check)
        self.summary_figures = {
            "providers": len(self.providers),
            "models": len(self.models),
            "active_models": sum(1 for row in self.models if row["is_active"]),
            "statuses": total,
            "headline_counts": dict(headline_counts),
            "avg_availability": availability.mean(),
            "last_update": max(checked, default=None),
        }


_ROW = operator.itemgetter(*STATUS_COLUMNS)
# Columns whose values repeat: one object per value, so pickled once per model.
_SHARED_COLUMNS = tuple(
    STATUS_COLUMNS.index(column) for column in ("region", "status", "checked_at", "origin")
)
_STATUS_INDEX = STATUS_COLUMNS.index("status")
_ZERO = Decimal(0)


@dataclasses.dataclass(slots=True)
class _ModelFacts:
    count: int
    availability: _ExactSum
    last_check: dt.datetime | None
    headline: tuple


class _ExactSum:
    """An exact sum (catalog.aggregates.exact_sum) and count, added up per model then per
    provider: exact, so the mean is exact_mean's over all the values."""

    __slots__ = ("count", "total")

    def __init__(self, total: Decimal = _ZERO, count: int = 0):
        self.total, self.count = total, count

    @classmethod
    def of(cls, values) -> _ExactSum:
        return cls(*exact_sum(values))

    def add(self, other: _ExactSum) -> None:
        with localcontext(prec=EXACT_DIGITS):
            self.total += other.total
        self.count += other.count

    def mean(self) -> float | None:
        return mean_of_sum(self.total, self.count)


def _aliases() -> dict[str, str]:
    """The model aliases, when the database answers: the JSON store is the fallback when it
    does not, and then serves without them (a status keyed by an alias only is left out)."""
    try:
        return load_aliases()
    except DatabaseError as exc:
        logger.warning("event=json_backend_no_aliases error=%r", str(exc)[:200])
        return {}


def _signature(files: dict[str, source.ExportFile]) -> tuple:
    """What changes when an export's files change (local files: size and mtime)."""
    parts = []
    for kind in source.KINDS:
        export_file = files.get(kind)
        if export_file is None:
            parts.append(None)
        elif export_file.is_url:
            parts.append(_url_version(export_file.location))
        else:
            stat = Path(export_file.location).stat()
            parts.append((stat.st_size, stat.st_mtime_ns))
    return tuple(parts)


def _url_version(url: str):
    request = source._request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=settings.JSON_EXPORT_TIMEOUT) as response:  # noqa: S310
            return (
                response.headers.get("ETag"),
                response.headers.get("Last-Modified"),
                response.headers.get("Content-Length"),
            )
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(f"{source.mask_url(url)}: cannot fetch: {reason}") from exc


class JsonBackend(CatalogBackend):
    name = "json"

    def __init__(self):
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0

    def export_files(self) -> dict[str, source.ExportFile]:
        return source.resolve(source.default_sources(settings))

    def snapshot(self) -> Snapshot:
        """The export as of now: re-read only when its files have changed."""
        with self._lock:
            ttl = settings.JSON_EXPORT_TTL if settings.JSON_EXPORT_URL else 0.0
            now = time.monotonic()
            if self._snapshot is not None and now - self._checked_at < ttl:
                return self._snapshot
            try:
                files = self.export_files()
                signature = _signature(files)
                if self._snapshot is None or self._snapshot.signature != signature:
                    self._snapshot = Snapshot.read(files, signature)
            except Exception as exc:  # any failure of the export is the store's
                # (SourceError, OSError, a value no rule foresaw): fall back, never a 500.
                logger.warning("event=json_backend_unreadable error=%r", str(exc)[:300])
                timeout = isinstance(exc, TimeoutError) or "timed out" in str(exc)
                raise BackendUnavailable(
                    f"json: {exc}", category="timeout" if timeout else "json unavailable"
                ) from exc
            self._checked_at = now
            return self._snapshot

    # --- reads --------------------------------------------------------------------------------

    def list_models(self, query: ModelQuery) -> ModelPage:
        snapshot = self.snapshot()
        rows = [row for row in snapshot.models if _matches(row, query, snapshot)]
        rows.sort(key=lambda row: row["slug"])  # the tie-break, then the ordering (stable sort)
        field = query.order_field
        present = [row for row in rows if row[field] is not None]
        absent = [row for row in rows if row[field] is None]
        present.sort(key=lambda row: row[field], reverse=query.descending)
        rows = present + absent  # nulls last, both ways
        page = rows[query.offset : query.offset + query.limit]
        return ModelPage(models=[self._model(row, snapshot) for row in page], total=len(rows))

    def get_model(self, slug: str) -> dict | None:
        snapshot = self.snapshot()
        row = snapshot.models_by_slug.get(slug)
        return None if row is None else self._model(row, snapshot, detail=True)

    def list_providers(self) -> list[dict]:
        snapshot = self.snapshot()
        return [
            serializers.provider_to_api(snapshot.providers[slug], **snapshot.provider_figures[slug])
            for slug in sorted(snapshot.providers)
        ]

    def status_summary(self) -> dict:
        return serializers.summary_to_api(**self.snapshot().summary_figures)

    def _model(self, row: dict, snapshot: Snapshot, *, detail: bool = False) -> dict:
        provider = snapshot.providers[row["provider_slug"]]
        if detail:
            statuses = snapshot.statuses(row["slug"])
        else:  # a list shows the headline status only
            headline = snapshot.headline(row["slug"])
            statuses = [] if headline is None else [headline]
        return serializers.model_to_api(
            row,
            serializers.provider_ref(provider["slug"], provider["name"], provider["website_url"]),
            statuses,
            detail=detail,
        )


def _contains(value, needle: str) -> bool:
    return value is not None and needle in value.lower()


def _matches(row: dict, query: ModelQuery, snapshot: Snapshot) -> bool:
    if query.provider and row["provider_slug"] != query.provider:
        return False
    if query.is_active is not None and row["is_active"] != query.is_active:
        return False
    if query.modality and query.modality not in row["modalities"]:
        return False
    if query.capability and query.capability not in row["capabilities"]:
        return False
    if query.q:
        needle = query.q.lower()
        if not (
            _contains(row["name"], needle)
            or _contains(row["slug"], needle)
            or _contains(row["description"], needle)
        ):
            return False
    return not query.status or snapshot.headline_value(row["slug"]) == query.status
