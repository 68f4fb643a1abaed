"""Model aliases: the other names model-status.json may key a model's statuses by.

An alias is data an operator sets (admin: *Model aliases*, or the reject queue's "map to
model…" action): the acceptance pipeline tries it after the slug, the source id and the
provider-less slug (migrator.pipeline.Acceptance.resolve_model), in every later run and on
``backfill_json --retry-failed``.
"""

from __future__ import annotations

from catalog.models import Model
from migrator.errors import MigratorError
from migrator.models import ModelAlias, RejectedRecord


class AliasRefused(MigratorError):
    """An alias that cannot be set as asked (no such model, or no key to alias)."""


def model_alias_set(*, alias: str, model_slug: str, note: str = "") -> ModelAlias:
    """Make the status key ``alias`` name the model ``model_slug`` (which must exist)."""
    alias, model_slug = alias.strip(), model_slug.strip()
    if not alias:
        raise AliasRefused("an alias needs the status key it stands for")
    if not Model.objects.filter(slug=model_slug).exists():
        raise AliasRefused(f"no model has the slug {model_slug!r}: give an existing model's slug")
    record, _ = ModelAlias.objects.update_or_create(
        alias=alias, defaults={"model_slug": model_slug, "note": note}
    )
    return record


def rejects_map_to_model(*, rejects: list[RejectedRecord], model_slug: str) -> list[str]:
    """Alias the status keys of rejected statuses (``unknown model``) to ``model_slug``; the
    aliases set. ``backfill_json --retry-failed`` then loads them."""
    keys = sorted(
        {
            r.context.get("model_slug")
            for r in rejects
            if r.entity == "statuses" and r.context.get("model_slug")
        }
    )
    if not keys:
        raise AliasRefused("none of the selected records is a status with a model key")
    for key in keys:
        model_alias_set(alias=key, model_slug=model_slug, note="mapped from the reject queue")
    return keys
