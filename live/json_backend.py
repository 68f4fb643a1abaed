"""The JSON read backend: the catalog served straight from the export, as backfill would load it.

The export is read once with the same reader and mapping as backfill_json (the same records are
kept, the same ones left out), held in memory, and read again only when its files change (their
size and modification time; for a URL, after JSON_EXPORT_TTL seconds and only if its ETag or
Last-Modified moved). Filtering, ordering and counting follow the database backend's rules
exactly, so that both answer with identical bodies.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from catalog import serializers
from catalog.aggregates import exact_mean
from catalog.backends.base import BackendUnavailable, CatalogBackend, ModelPage, ModelQuery
from migrator import source
from migrator.errors import SourceError
from migrator.models import Entity
from migrator.pipeline import Acceptance, Accepted, load_aliases

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Snapshot:
    """One export, mapped: provider rows by slug, model rows in slug order, statuses by model."""

    providers: dict[str, dict]
    models: list[dict]
    statuses: dict[str, list[dict]]
    signature: tuple

    def __post_init__(self):
        self.models_by_slug = {row["slug"]: row for row in self.models}

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
        statuses: dict[str, list[dict]] = {}
        if "providers" in files:
            for item in acceptance.providers_from(source.iter_records(files["providers"])):
                if isinstance(item, Accepted):
                    providers[item.key] = item.row
        if "models" in files:
            records = source.iter_records(files["models"])
            for item in acceptance.models_from(records, export_file=files["models"]):
                if isinstance(item, Accepted):
                    (providers if item.entity == Entity.PROVIDERS else models)[item.key] = item.row
        if "statuses" in files:
            for item in acceptance.statuses_from(source.iter_records(files["statuses"])):
                if isinstance(item, Accepted):
                    statuses.setdefault(item.parent, []).append(item.row)
        for item in acceptance.embedded_statuses():
            if isinstance(item, Accepted):
                statuses.setdefault(item.parent, []).append(item.row)
        ordered = [models[slug] for slug in sorted(models)]
        return cls(providers=providers, models=ordered, statuses=statuses, signature=signature)


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
        models = defaultdict(list)
        for row in snapshot.models:
            models[row["provider_slug"]].append(row)
        result = []
        for slug in sorted(snapshot.providers):
            rows = models.get(slug, [])
            availability = [
                status["availability"]
                for row in rows
                for status in snapshot.statuses.get(row["slug"], [])
            ]
            result.append(
                serializers.provider_to_api(
                    snapshot.providers[slug],
                    model_count=len(rows),
                    active_model_count=sum(1 for row in rows if row["is_active"]),
                    avg_availability=exact_mean(availability),
                )
            )
        return result

    def status_summary(self) -> dict:
        snapshot = self.snapshot()
        headline_counts: dict[str, int] = defaultdict(int)
        availability, checked = [], []
        total_statuses = 0
        for row in snapshot.models:
            statuses = snapshot.statuses.get(row["slug"], [])
            total_statuses += len(statuses)
            headline = serializers.headline_status(statuses)
            if headline is not None:
                headline_counts[headline["status"]] += 1
            availability += [s["availability"] for s in statuses]
            checked += [s["checked_at"] for s in statuses if s["checked_at"] is not None]
        return serializers.summary_to_api(
            providers=len(snapshot.providers),
            models=len(snapshot.models),
            active_models=sum(1 for row in snapshot.models if row["is_active"]),
            statuses=total_statuses,
            headline_counts=headline_counts,
            avg_availability=exact_mean(availability),
            last_update=max(checked, default=None),
        )

    def _model(self, row: dict, snapshot: Snapshot, *, detail: bool = False) -> dict:
        provider = snapshot.providers[row["provider_slug"]]
        return serializers.model_to_api(
            row,
            serializers.provider_ref(provider["slug"], provider["name"], provider["website_url"]),
            snapshot.statuses.get(row["slug"], []),
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
    if query.status:
        headline = serializers.headline_status(snapshot.statuses.get(row["slug"], []))
        if headline is None or headline["status"] != query.status:
            return False
    return True
