"""The acceptance pipeline: the one place that decides which export records load.

An export goes in; out comes, per entity, a stream of accepted records (natural key, position,
raw record, mapped row, warnings) and rejected ones (key, position, raw record, field, reason).
backfill_json writes the accepted ones and queues the rejected ones, validate_migration compares
the accepted ones with the database and excuses the queued ones, the JSON read backend serves the
accepted ones, and ``--retry-failed`` feeds the reject queue back through it. Its rules:

- providers.json: a provider needs a slug; a slug seen before is rejected (the first one loads).
- models.json: a model needs a provider (``provider.id``) and a name; its slug is derived from
  both; a slug seen before is rejected (the first one loads). A provider that providers.json does
  not list is created from the one the model embeds (the first model naming it decides); if that
  embedded provider is malformed, the model is rejected.
- model-status.json: a key must name an accepted model (one from this export's models.json; the
  database's models when the export has no models.json); a key seen before is rejected whole;
  each status is checked on its own, and among the valid ones of a model a region seen before is
  rejected (the first valid one loads).
- every value: the field table's rules (catalog.fields), the database's limits included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import reprlib
from collections.abc import Iterable, Iterator

from catalog.fields import InvalidValue, check_json
from migrator import mapping, source
from migrator.models import Entity
from migrator.rejects import Reject

PROVIDERS, MODELS, STATUSES = Entity.PROVIDERS, Entity.MODELS, Entity.STATUSES


@dataclasses.dataclass(slots=True)
class Accepted:
    """A record that loads: ``row`` is its mapped row (columns of the field table, plus
    ``provider_slug`` for a model); ``parent`` the model slug of a status."""

    entity: str
    key: object  # provider slug, model slug, or (model slug, region)
    position: str
    raw: object
    row: dict
    warnings: list[tuple[str, str]] | None = None  # (kind, text)
    parent: str | None = None
    queue_key: str | None = None  # replayed from the reject queue under this key

    @property
    def record_key(self) -> str:
        """Its name in the reject queue (to notice a queued record that loads at last)."""
        if self.queue_key is not None:
            return self.queue_key
        return f"{self.key[0]}@{self.key[1]}" if self.entity == STATUSES else self.key


def position(index: int) -> str:
    """Where a provider or model record is in its file."""
    return f"#{index}"


def status_position(model_slug: str, index: int, listed: bool) -> str:
    """Where a status is: its key, and its index when the key holds a list."""
    return f"{model_slug}[{index}]" if listed else model_slug


_EXCERPT = reprlib.Repr()
_EXCERPT.maxlevel, _EXCERPT.maxstring, _EXCERPT.maxother = 6, 200, 200


def storable(raw):
    """The raw record as the reject queue can keep it: itself when both databases can hold it,
    else an excerpt (a record nested 10,000 deep or holding NUL characters cannot be stored)."""
    try:
        check_json(raw)
    except InvalidValue as exc:
        return {
            "unstorable": f"the record {exc.reason}: only an excerpt is kept",
            "excerpt": _EXCERPT.repr(raw).replace("\x00", "\\u0000"),
        }
    return raw


class Acceptance:
    """One pass over one export (or over the reject queue). Feed it providers, then models, then
    statuses; it remembers what it accepted, since later entities depend on it.

    ``known_models``: model slugs statuses may name when no models.json is fed (the database's).
    ``held_slugs``: for a replay of queued models, ``{slug: source id}`` of the models the
    database already has (a queued duplicate must not take over another model's slug).
    ``provider_exists(slug)``: whether a provider not fed here may be taken as it is (the
    database's, when providers.json is not part of the run).
    """

    @classmethod
    def for_export(cls, kinds, *, now: dt.datetime) -> Acceptance:
        """The pass over an export holding the files of ``kinds``: without models.json, statuses
        may name the database's models; without providers.json, a model's provider that the
        database has is taken as it is (not recreated from the one the model embeds)."""
        from catalog.models import Model, Provider

        known = None if "models" in kinds else Model.objects.values_list("slug", flat=True)
        acceptance = cls(now=now, known_models=known)
        if "providers" not in kinds:
            acceptance.provider_exists = set(
                Provider.objects.values_list("slug", flat=True)
            ).__contains__
        return acceptance

    def __init__(
        self,
        *,
        now: dt.datetime,
        known_models: Iterable[str] | None = None,
        held_slugs: dict[str, str] | None = None,
        file: str = "",
        location: str = "",
        provider_exists=None,
    ):
        self.now = now
        self.provider_exists = provider_exists
        self.known_models = set(known_models) if known_models is not None else None
        self.held_slugs = held_slugs
        self.providers: dict[str, str] = {}  # slug -> position, from providers.json
        self.embedded: set[str] = set()  # providers created from a model's embedded provider
        self.models: dict[str, str] | None = None  # slug -> position, once models are fed
        self.status_keys: set[str] = set()
        self.reject_keys: dict[str, set[str]] = {}
        self.file = file
        self.location = location

    # --- rejects ------------------------------------------------------------------------------

    def _reject(self, entity, record_key, where, raw, error, context=None) -> Reject:
        # One queue entry per record: a key two rejects of this pass would share gets the
        # record's position too (e.g. two invalid providers with one slug).
        used = self.reject_keys.setdefault(entity, set())
        if record_key in used:
            record_key = f"{record_key} {where}"
        used.add(record_key)
        return Reject(
            entity=entity,
            record_key=record_key,
            file=self.file or source.FILE_OF_KIND[entity],
            location=self.location,
            position=where,
            reason=error.reason,
            field=error.field or "",
            raw=storable(raw),
            context=context or {},
        )

    # --- providers ----------------------------------------------------------------------------

    def providers_from(self, records: Iterable[tuple[int, object]]) -> Iterator:
        """``(index, record)`` pairs of providers.json."""
        for index, raw in records:
            yield from self.accept_provider(raw, position(index))

    def accept_provider(self, raw, where: str, *, queue_key: str | None = None) -> Iterator:
        try:
            row = mapping.map_provider(raw)
        except mapping.RecordError as exc:
            slug = raw.get("slug") if type(raw) is dict else None
            key = slug if type(slug) is str and slug and slug not in self.providers else where
            yield self._reject(PROVIDERS, queue_key or key, where, raw, exc)
            return
        slug = row["slug"]
        if slug in self.providers:
            error = mapping.RecordError(
                f"duplicate slug {slug!r}: first at {self.providers[slug]}", "slug"
            )
            yield self._reject(PROVIDERS, queue_key or f"{slug} {where}", where, raw, error)
            return
        self.providers[slug] = where
        yield Accepted(PROVIDERS, slug, where, raw, row, queue_key=queue_key)

    def provider_known(self, slug: str) -> bool:
        return slug in self.providers or slug in self.embedded

    # --- models -------------------------------------------------------------------------------

    def models_from(self, records: Iterable[tuple[int, object]]) -> Iterator:
        """``(index, record)`` pairs of models.json. Yields, before a model whose provider is
        neither in providers.json nor created yet, that provider (accepted, entity providers)."""
        if self.models is None:
            self.models = {}
        for index, raw in records:
            yield from self.accept_model(raw, position(index))

    def accept_model(self, raw, where: str, *, queue_key=None) -> Iterator:
        if self.models is None:
            self.models = {}
        try:
            row = mapping.map_model(raw)
        except mapping.RecordError as exc:
            yield self._reject(MODELS, queue_key or _model_key(raw, where), where, raw, exc)
            return
        slug, provider_slug = row["slug"], row["provider_slug"]
        if slug in self.models:
            error = mapping.RecordError(
                f"duplicate slug {slug!r}: models.json {self.models[slug]} derives it too "
                "(the first one loads)",
                "name",
            )
            key = queue_key or f"{slug} {_model_key(raw, where)}"
            yield self._reject(MODELS, key, where, raw, error)
            return
        held = self.held_slugs.get(slug) if self.held_slugs is not None else None
        if held is not None and held != row["source_id"]:
            error = mapping.RecordError(f"duplicate slug {slug!r}: held by model {held!r}", "name")
            yield self._reject(MODELS, queue_key or slug, where, raw, error)
            return
        context = {"provider_slug": provider_slug}
        if not self.provider_known(provider_slug) and not (
            self.provider_exists is not None and self.provider_exists(provider_slug)
        ):
            try:
                provider_row = mapping.map_embedded_provider(raw["provider"])
            except mapping.RecordError as exc:
                yield self._reject(MODELS, queue_key or slug, where, raw, exc, context)
                return
            self.embedded.add(provider_slug)
            yield Accepted(
                PROVIDERS, provider_slug, f"{where}.provider", raw["provider"], provider_row
            )
        self.models[slug] = where
        yield Accepted(MODELS, slug, where, raw, row, parent=provider_slug, queue_key=queue_key)

    def model_known(self, slug: str) -> bool:
        if self.models is not None:
            return slug in self.models
        return self.known_models is not None and slug in self.known_models

    # --- statuses -----------------------------------------------------------------------------

    def statuses_from(self, records: Iterable[tuple[str, object]]) -> Iterator:
        """``(model slug, status or list of statuses)`` pairs of model-status.json."""
        for model_slug, value in records:
            listed = type(value) is list
            statuses = value if listed else (value,)
            if model_slug in self.status_keys:
                for index, raw in enumerate(statuses):
                    where = status_position(model_slug, index, listed)
                    error = mapping.RecordError(
                        f"duplicate key {model_slug!r} in statuses (the first one loads)"
                    )
                    key = f"{model_slug}@{_region_or(raw, index)} {where} duplicate"
                    yield self._reject(STATUSES, key, where, raw, error, {"model_slug": model_slug})
                continue
            self.status_keys.add(model_slug)
            yield from self.accept_statuses(
                model_slug,
                statuses,
                [status_position(model_slug, i, listed) for i in range(len(statuses))],
            )

    def accept_statuses(
        self, model_slug: str, statuses, positions: list[str], *, queue_keys=None
    ) -> Iterator:
        """The statuses of one model (its key's entries, or queued records of that model, each
        under its ``queue_keys`` entry)."""
        context = {"model_slug": model_slug}
        queue_keys = queue_keys or [None] * len(positions)
        if not self.model_known(model_slug):
            error = mapping.RecordError(
                f"unknown model {model_slug!r}: no model has this slug (absent from "
                "models.json or rejected there); retried by --retry-failed"
            )
            for index, (raw, where) in enumerate(zip(statuses, positions, strict=True)):
                key = queue_keys[index] or f"{model_slug}@{_region_or(raw, index)}"
                yield self._reject(STATUSES, key, where, raw, error, context)
            return
        regions: dict[str, str] = {}
        for raw, where, queue_key in zip(statuses, positions, queue_keys, strict=True):
            try:
                row = mapping.map_status(raw)
            except mapping.RecordError as exc:
                try:
                    key = f"{model_slug}@{mapping.status_region(raw)}"
                except mapping.RecordError:
                    key = f"{where} ({exc.field or 'record'})"
                yield self._reject(STATUSES, queue_key or key, where, raw, exc, context)
                continue
            region = row["region"]
            if region in regions:
                error = mapping.RecordError(
                    f"region {region!r} appears twice for {model_slug!r} (first at "
                    f"{regions[region]}; the first valid one loads)",
                    "region",
                )
                key = queue_key or f"{model_slug}@{region} {where}"
                yield self._reject(STATUSES, key, where, raw, error, context)
                continue
            regions[region] = where
            warnings = mapping.status_warnings(row, raw, now=self.now)
            yield Accepted(
                STATUSES,
                (model_slug, region),
                where,
                raw,
                row,
                [(kind, f"{where}: {detail}") for kind, detail in warnings] or None,
                model_slug,
                queue_key,
            )


def _model_key(raw, where: str) -> str:
    source_id = raw.get("id") if type(raw) is dict else None
    return f"id {source_id}" if type(source_id) is str and source_id else where


def _region_or(raw, index: int) -> str:
    try:
        return mapping.status_region(raw)
    except mapping.RecordError:
        return f"#{index}"
