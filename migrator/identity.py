"""Which models.json records are the same model, and the slug each model gets.

Part of the acceptance pipeline (migrator.pipeline), decided over the whole file:

- a record's *identity* is its spelled slug (mapping.spelled_model_slug: case and punctuation
  folded, symbols spelled, other scripts transliterated; the source id's when the name gives
  nothing): records with one identity are one model, merged;
- a model's slug is today's (mapping.derive_model_slug) wherever no other model of the export
  has it, so existing URLs do not move; of distinct models sharing today's slug, the one whose
  identity it is keeps it and the others take their identity.
"""

from __future__ import annotations

import dataclasses

from migrator import mapping


@dataclasses.dataclass(slots=True)
class Candidate:
    """A models.json record read far enough to tell which model it is."""

    raw: dict
    where: str
    provider_slug: str
    embedded: dict  # the provider it names, as an object
    legacy: str  # today's slug
    identity: str  # the model it is: its spelled slug (or its source id's)
    queue_key: str | None


def candidate(raw, where: str, queue_key, *, provider_slug: str, embedded: dict) -> Candidate:
    """Raises RecordError when the record has no name, or a name and no id giving no slug."""
    name = mapping.model_name(raw)
    legacy = mapping.derive_model_slug(provider_slug, name)
    identity = mapping.spelled_model_slug(provider_slug, name)
    if mapping.is_degenerate(provider_slug, identity):
        source_id = raw.get("id")
        if type(source_id) is not str or not source_id.strip():
            raise mapping.RecordError(
                f"name {name!r} gives no slug (no letter or digit, even transliterated) "
                "and the record has no id to name it by",
                "name",
            )
        identity = mapping.derive_model_slug(provider_slug, source_id)
    return Candidate(raw, where, provider_slug, embedded, legacy, identity, queue_key)


def grouped(candidates: list[Candidate]) -> dict[str, list[Candidate]]:
    """The candidates by model (identity), in file order of each model's first record."""
    groups: dict[str, list[Candidate]] = {}
    for item in candidates:
        groups.setdefault(item.identity, []).append(item)
    return groups


def slugs(groups: dict[str, list[Candidate]], held: dict[str, str] | None = None) -> dict:
    """Each model's slug, by identity. ``held``: ``{slug: source id}`` of models the database
    has (a replay of the reject queue), whose slugs another model may not take over."""
    sharing: dict[str, set[str]] = {}
    for identity, group in groups.items():
        sharing.setdefault(group[0].legacy, set()).add(identity)
    decided = {}
    for identity, group in groups.items():
        first = group[0]
        legacy = first.legacy
        if mapping.is_degenerate(first.provider_slug, legacy):
            slug = identity
        elif len(sharing[legacy]) == 1 or identity == legacy:
            slug = legacy
        else:
            slug = identity
        owner = held.get(slug) if held is not None else None
        if owner is not None and owner != first.raw.get("id") and slug != identity:
            slug = identity  # today's slug belongs to another model
        decided[identity] = slug
    return decided


def merged(group: list[Candidate]) -> tuple[dict, list[tuple[str, str]]]:
    """The group's first record with the fields it lacks (absent or null) filled from the later
    ones, and a warning per later record naming the fields where they differ."""
    first = group[0]
    record = dict(first.raw)
    warnings = []
    for later in group[1:]:
        differing = []
        for name, value in later.raw.items():
            if value is None:
                continue
            if record.get(name) is None:
                record[name] = value
            elif record[name] != value:
                differing.append(name)
        text = (
            f"models.json {later.where} merged into {first.where} "
            f"(the same model, {first.identity})"
        )
        if differing:
            text += f"; differing: {', '.join(differing)} (the first record's kept)"
        warnings.append(("merged duplicate model", text))
    return record, warnings
