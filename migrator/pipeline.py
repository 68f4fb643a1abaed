"""The acceptance pipeline: the one place that decides which export records load.

An export goes in; out comes, per entity, a stream of accepted records (natural key, position,
raw record, mapped row, warnings) and rejected ones (key, position, raw record, field, reason).
backfill_json writes the accepted ones and queues the rejected ones, validate_migration compares
the accepted ones with the database and excuses the queued ones, the JSON read backend serves the
accepted ones, and ``--retry-failed`` feeds the reject queue back through it. Its rules:

- providers.json: a provider needs a slug; a slug seen before is rejected (the first one loads).
- models.json (an object with ``models``, or a bare array): a model needs a provider (an object
  with ``id``, or a plain string: a slug or a name) and a name. Slugs are decided over the whole
  file (``ModelSlugs``): records whose names differ only in case and punctuation are one model,
  merged (gaps of the first filled from the later ones, differences warned); distinct models
  never share a slug (today's slug stays wherever it is unique; symbols are spelled, other
  scripts transliterated, else the source id). A provider that providers.json does not list is
  created from the one the model embeds (the first model naming it decides), or from the
  envelope's ``providers`` list; if that embedded provider is malformed, the model is rejected.
- a model's own status (``status``, ``availability``) is its ``global`` status, origin
  ``models_file``, when model-status.json has none for it; where both speak, model-status.json
  wins and a difference is a warning.
- model-status.json: a key names a model by slug, else by source id, else by its slug without
  the provider prefix (unique across providers), else by an alias (ModelAlias); two candidates
  are never guessed between (rejected, naming both). A key naming no model, or a model another
  key named before, is rejected; each status is checked on its own, and among the valid ones of
  a model a region seen before is rejected (the first valid one loads).
- every value: the field table's rules (catalog.fields), the database's limits included; a
  number beyond 64-bit or double range rejects its record (source.OutOfRange).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import reprlib
from collections.abc import Iterable, Iterator

from catalog.fields import InvalidValue, check_json
from catalog.models import GLOBAL_REGION, StatusOrigin
from migrator import identity, mapping, source
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


@dataclasses.dataclass(slots=True)
class Merged:
    """A models.json record merged into an earlier record of the same model (counted, kept in
    the export's envelope record, not loaded as a row of its own)."""

    entity: str
    position: str
    into: str
    raw: object


class Acceptance:
    """One pass over one export (or over the reject queue). Feed it providers, then models, then
    statuses (then :meth:`embedded_statuses`); it remembers what it accepted, since later
    entities depend on it.

    ``known_models``: model slugs statuses may name when no models.json is fed (the database's).
    ``held_slugs``: for a replay of queued models, ``{slug: source id}`` of the models the
    database already has (a queued duplicate must not take over another model's slug).
    ``provider_exists(slug)``: whether a provider not fed here may be taken as it is (the
    database's, when providers.json is not part of the run).
    ``model_refs``: ``[(slug, source id, provider slug)]`` of the models statuses may name when
    no models.json is fed; ``aliases``: ``{status key: model slug}`` (ModelAlias).
    """

    @classmethod
    def for_export(cls, kinds, *, now: dt.datetime) -> Acceptance:
        """The pass over an export holding the files of ``kinds``: without models.json, statuses
        may name the database's models; without providers.json, a model's provider that the
        database has is taken as it is (not recreated from the one the model embeds)."""
        from catalog.models import Model, Provider

        refs = None
        if "models" not in kinds:
            refs = list(Model.objects.values_list("slug", "source_id", "provider__slug"))
        acceptance = cls(
            now=now,
            known_models=None if refs is None else [slug for slug, _, _ in refs],
            model_refs=refs,
            aliases=load_aliases(),
        )
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
        model_refs: Iterable[tuple[str, str, str]] | None = None,
        aliases: dict[str, str] | None = None,
    ):
        self.now = now
        self.provider_exists = provider_exists
        self.known_models = set(known_models) if known_models is not None else None
        self.held_slugs = held_slugs
        self.providers: dict[str, str] = {}  # slug -> position, from providers.json
        self.provider_names: dict[str, str] = {}  # casefolded name -> slug
        self.embedded: set[str] = set()  # providers created from a model's embedded provider
        self.models: dict[str, str] | None = None  # slug -> position, once models are fed
        # slug -> (provider slug, source ids), for resolving status keys
        self.model_refs: dict[str, tuple[str, set[str]]] = {}
        for slug, source_id, provider_slug in model_refs or ():
            self.model_refs[slug] = (provider_slug, {source_id} if source_id else set())
        self._key_index: tuple[dict, dict] | None = None
        self.aliases = dict(aliases or {})
        self.own_statuses: dict[str, tuple[str, object]] = {}  # model slug -> (position, status)
        self.status_models: dict[str, str] = {}  # model slug -> the status key that named it
        self.status_keys: set[str] = set()
        self.reject_keys: dict[str, set[str]] = {}
        self.merged_records: list[dict] = []
        self.file_warnings: list[tuple[str, str]] = []  # (kind, text) about a file as a whole
        self.file = file
        self.location = location

    # --- rejects ------------------------------------------------------------------------------

    def _reject(self, entity, record_key, where, raw, error, context=None, file=None) -> Reject:
        # One queue entry per record: a key two rejects of this pass would share gets the
        # record's position too (e.g. two invalid providers with one slug).
        used = self.reject_keys.setdefault(entity, set())
        if record_key in used:
            record_key = f"{record_key} {where}"
        used.add(record_key)
        if type(raw) is source.OutOfRange:
            raw = raw.record
        return Reject(
            entity=entity,
            record_key=record_key,
            file=file or self.file or source.FILE_OF_KIND[entity],
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
            if type(raw) is source.OutOfRange:
                raise _out_of_range(raw)
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
        self.provider_names.setdefault(row["name"].casefold(), slug)
        yield Accepted(PROVIDERS, slug, where, raw, row, queue_key=queue_key)

    def provider_known(self, slug: str) -> bool:
        return slug in self.providers or slug in self.embedded

    def _provider_usable(self, slug: str) -> bool:
        return self.provider_known(slug) or (
            self.provider_exists is not None and self.provider_exists(slug)
        )

    # --- models -------------------------------------------------------------------------------

    def models_from(self, records: Iterable[tuple[int, object]], *, export_file=None) -> Iterator:
        """``(index, record)`` pairs of models.json. Yields, before a model whose provider is
        neither in providers.json nor created yet, that provider (accepted, entity providers).

        The file is held whole (models number thousands): slugs and merges are decided over it.
        ``export_file``: its envelope (read once the records are) adds the providers named only
        in its ``providers`` list, and its ``statistics`` are checked."""
        entries = [(raw, position(index), None) for index, raw in records]
        yield from self._accept_models(entries)
        if export_file is not None:
            envelope = export_file.envelope
            yield from self._envelope_providers(envelope)
            self._check_statistics(envelope, len(entries))

    def accept_model(self, raw, where: str, *, queue_key=None) -> Iterator:
        """One model on its own (a record replayed from the reject queue)."""
        yield from self._accept_models([(raw, where, queue_key)])

    def _accept_models(self, entries) -> Iterator:
        if self.models is None:
            self.models = {}
        candidates: list[identity.Candidate] = []
        for raw, where, queue_key in entries:
            try:
                candidates.append(self._candidate(raw, where, queue_key))
            except mapping.RecordError as exc:
                yield self._reject(MODELS, queue_key or _model_key(raw, where), where, raw, exc)
        groups = identity.grouped(candidates)
        slugs = identity.slugs(groups, self.held_slugs)
        for model_identity, group in groups.items():
            yield from self._accept_group(group, slugs[model_identity])

    def _candidate(self, raw, where: str, queue_key) -> identity.Candidate:
        if type(raw) is source.OutOfRange:
            raise _out_of_range(raw)
        embedded = mapping.embedded_provider(raw)
        provider_slug = mapping.embedded_provider_slug(embedded)
        if type(raw.get("provider")) is str and not self._provider_usable(provider_slug):
            # A provider given by its name: the provider of that name, when one is known.
            named = self.provider_names.get(raw["provider"].strip().casefold())
            if named is not None:
                provider_slug, embedded = named, {"id": named, "name": raw["provider"]}
        return identity.candidate(
            raw, where, queue_key, provider_slug=provider_slug, embedded=embedded
        )

    def _accept_group(self, group: list[identity.Candidate], slug: str) -> Iterator:
        first = group[0]
        raw, where, queue_key = first.raw, first.where, first.queue_key
        warnings = []
        if len(group) > 1:
            raw, warnings = identity.merged(group)
        try:
            mapping.check_slug_length(slug)
            row = mapping.map_model(raw, provider_slug=first.provider_slug, slug=slug)
        except mapping.RecordError as exc:
            yield self._reject(MODELS, queue_key or _model_key(raw, where), where, first.raw, exc)
            for later in group[1:]:
                error = mapping.RecordError(f"the same model as {where}, rejected: {exc.reason}")
                key = later.queue_key or _model_key(later.raw, later.where)
                yield self._reject(MODELS, key, later.where, later.raw, error)
            return
        provider_slug = row["provider_slug"]
        if slug in self.models:
            error = mapping.RecordError(
                f"duplicate slug {slug!r}: models.json {self.models[slug]} derives it too "
                "(the first one loads)",
                "name",
            )
            key = queue_key or f"{slug} {_model_key(raw, where)}"
            yield self._reject(MODELS, key, where, first.raw, error)
            return
        held = self.held_slugs.get(slug) if self.held_slugs is not None else None
        if held is not None and held != row["source_id"]:
            error = mapping.RecordError(f"duplicate slug {slug!r}: held by model {held!r}", "name")
            yield self._reject(MODELS, queue_key or slug, where, raw, error)
            return
        context = {"provider_slug": provider_slug}
        if not self._provider_usable(provider_slug):
            try:
                provider_row = mapping.map_embedded_provider(first.embedded)
            except mapping.RecordError as exc:
                yield self._reject(MODELS, queue_key or slug, where, raw, exc, context)
                return
            self.embedded.add(provider_slug)
            self.provider_names.setdefault(provider_row["name"].casefold(), provider_slug)
            yield Accepted(
                PROVIDERS, provider_slug, f"{where}.provider", first.embedded, provider_row
            )
        self.models[slug] = where
        self.model_refs[slug] = (
            provider_slug,
            {c.raw.get("id") for c in group if type(c.raw.get("id")) is str and c.raw.get("id")},
        )
        self._key_index = None
        own = mapping.embedded_status(raw)
        if own is not None:
            self.own_statuses[slug] = (f"{where}.status", own)
        for later in group[1:]:
            self.merged_records.append(
                {"position": later.where, "into": where, "record": storable(later.raw)}
            )
            yield Merged(MODELS, later.where, where, later.raw)
        yield Accepted(
            MODELS,
            slug,
            where,
            raw,
            row,
            warnings or None,
            parent=provider_slug,
            queue_key=queue_key,
        )

    def _envelope_providers(self, envelope: dict) -> Iterator:
        """Providers named only in models.json's ``providers`` list become provider rows."""
        listed = envelope.get("providers")
        if type(listed) is not list:
            return
        for index, entry in enumerate(listed):
            where = f"providers[{index}]"
            slug = entry.get("id") if type(entry) is dict else None
            if type(slug) is str and self._provider_usable(slug):
                continue
            try:
                row = mapping.map_embedded_provider(entry)
            except mapping.RecordError as exc:
                key = f"{slug} {where}" if type(slug) is str and slug else where
                yield self._reject(PROVIDERS, key, where, entry, exc, file="models.json")
                continue
            self.embedded.add(row["slug"])
            yield Accepted(PROVIDERS, row["slug"], where, entry, row)

    def _check_statistics(self, envelope: dict, records: int):
        statistics = envelope.get("statistics")
        claimed = statistics.get("totalModels") if type(statistics) is dict else None
        if type(claimed) is int and claimed != records:
            self.file_warnings.append(
                (
                    "statistics.totalModels differs",
                    f"models.json statistics.totalModels says {claimed}, the file holds "
                    f"{records} model record(s)",
                )
            )

    def model_known(self, slug: str) -> bool:
        if self.models is not None:
            return slug in self.models
        return self.known_models is not None and slug in self.known_models

    # --- statuses -----------------------------------------------------------------------------

    def _index(self) -> tuple[dict, dict]:
        """Models by source id and by their slug without the provider prefix."""
        if self._key_index is None:
            by_id: dict[str, set[str]] = {}
            by_bare: dict[str, set[str]] = {}
            for slug, (provider_slug, source_ids) in self.model_refs.items():
                if not self.model_known(slug):
                    continue
                for source_id in source_ids:
                    by_id.setdefault(source_id, set()).add(slug)
                if slug.startswith(f"{provider_slug}-"):
                    by_bare.setdefault(slug[len(provider_slug) + 1 :], set()).add(slug)
            self._key_index = (by_id, by_bare)
        return self._key_index

    def resolve_model(self, key: str) -> str:
        """The slug of the model a status key names, in the documented order: slug, source id,
        slug without the provider prefix (unique across providers), alias. Raises RecordError
        when none or two match."""
        if self.model_known(key):
            return key
        by_id, by_bare = self._index()
        alias = self.aliases.get(key)
        alias = alias if alias is not None and self.model_known(alias) else None
        bare = mapping.derive_model_slug("", key)
        for how, found in (("source id", by_id.get(key)), ("name", by_bare.get(bare))):
            if not found:
                continue
            if len(found) == 1:
                return next(iter(found))
            if alias is not None:
                return alias
            first, second = sorted(found)[:2]
            raise mapping.RecordError(
                f"status key {key!r} is ambiguous: it is the {how} of {first!r} and of "
                f"{second!r}; name the right one with a model alias (admin: Model aliases)"
            )
        if alias is not None:
            return alias
        raise mapping.RecordError(
            f"unknown model {key!r}: no model has this slug, source id, name or alias (absent "
            "from models.json or rejected there); retried by --retry-failed"
        )

    def statuses_from(self, records: Iterable[tuple[str, object]]) -> Iterator:
        """``(model slug, status or list of statuses)`` pairs of model-status.json."""
        for model_slug, value in records:
            if type(value) is source.OutOfRange:
                error = _out_of_range(value)
                key = f"{model_slug}@{error.field}"
                yield self._reject(
                    STATUSES, key, model_slug, value, error, {"model_slug": model_slug}
                )
                self.status_keys.add(model_slug)
                continue
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
        self, model_slug: str, statuses, positions: list[str], *, queue_keys=None, origin=None
    ) -> Iterator:
        """The statuses of one model (its key's entries, or queued records of that model, each
        under its ``queue_keys`` entry). ``model_slug`` is the status key, resolved here."""
        key = model_slug
        context = {"model_slug": key}
        origin = str(origin or StatusOrigin.STATUS_FILE)  # its text: an enum's .value is slow
        file = "models.json" if origin == StatusOrigin.MODELS_FILE else None
        if origin == StatusOrigin.MODELS_FILE:
            context["origin"] = origin
        queue_keys = queue_keys or [None] * len(positions)
        try:
            model_slug = self.resolve_model(key)
            named_by = self.status_models.get(model_slug)
            if named_by is not None and named_by != key and queue_keys[0] is None:
                raise mapping.RecordError(
                    f"status key {key!r} names model {model_slug!r}, as key {named_by!r} does "
                    "(the first one loads)"
                )
        except mapping.RecordError as error:
            for index, (raw, where) in enumerate(zip(statuses, positions, strict=True)):
                record_key = queue_keys[index] or f"{key}@{_region_or(raw, index)}"
                yield self._reject(STATUSES, record_key, where, raw, error, context, file)
            return
        if origin == StatusOrigin.STATUS_FILE:
            self.status_models.setdefault(model_slug, key)
        regions: dict[str, str] = {}
        for raw, where, queue_key in zip(statuses, positions, queue_keys, strict=True):
            try:
                row = mapping.map_status(raw, origin=origin)
            except mapping.RecordError as exc:
                try:
                    record_key = f"{model_slug}@{mapping.status_region(raw)}"
                except mapping.RecordError:
                    record_key = f"{where} ({exc.field or 'record'})"
                yield self._reject(
                    STATUSES, queue_key or record_key, where, raw, exc, context, file
                )
                continue
            region = row["region"]
            if region in regions:
                error = mapping.RecordError(
                    f"region {region!r} appears twice for {model_slug!r} (first at "
                    f"{regions[region]}; the first valid one loads)",
                    "region",
                )
                record_key = queue_key or f"{model_slug}@{region} {where}"
                yield self._reject(STATUSES, record_key, where, raw, error, context)
                continue
            regions[region] = where
            found = mapping.status_warnings(row, raw, now=self.now)
            warnings = [(kind, f"{where}: {detail}") for kind, detail in found] if found else []
            if origin == StatusOrigin.STATUS_FILE and region == GLOBAL_REGION:
                warnings += self._own_status_differs(model_slug, row, where)
            yield Accepted(
                STATUSES,
                (model_slug, region),
                where,
                raw,
                row,
                warnings or None,
                model_slug,
                queue_key,
            )

    def _own_status_differs(self, model_slug: str, row: dict, where: str) -> list:
        own = self.own_statuses.get(model_slug)
        if own is None:
            return []
        try:
            theirs = mapping.map_status(own[1])
        except mapping.RecordError:
            return []
        # Only the status value: availability and the rest move between the two files'
        # snapshots (they are written at different times), the status value is a claim.
        if theirs["status"] == row["status"] or own[1].get("status") is None:
            return []
        return [
            (
                "status differs from models.json",
                f"{where}: status {row['status']!r}, models.json {own[0]} says "
                f"{theirs['status']!r} (model-status.json wins)",
            )
        ]

    def embedded_statuses(self) -> Iterator:
        """The models' own statuses (models.json) of the models model-status.json has no status
        for: each the model's ``global`` status, origin ``models_file``. Call after statuses."""
        for model_slug, (where, record) in self.own_statuses.items():
            if model_slug in self.status_models or not self.model_known(model_slug):
                continue
            yield from self.accept_statuses(
                model_slug, [record], [where], origin=StatusOrigin.MODELS_FILE
            )


def load_aliases() -> dict[str, str]:
    """The model aliases (``{alias: model slug}``) the operators have set."""
    from migrator.models import ModelAlias

    return dict(ModelAlias.objects.values_list("alias", "model_slug"))


def _out_of_range(value) -> mapping.RecordError:
    return mapping.RecordError(
        f"{value.field} is {value.number}, beyond what a database holds (a whole number within "
        "64 bits, a number within double range)",
        value.field,
    )


def _model_key(raw, where: str) -> str:
    if type(raw) is source.OutOfRange:
        raw = raw.record
    source_id = raw.get("id") if type(raw) is dict else None
    return f"id {source_id}" if type(source_id) is str and source_id else where


def _region_or(raw, index: int) -> str:
    try:
        return mapping.status_region(raw)
    except mapping.RecordError:
        return f"#{index}"
