"""backfill_json --retry-failed: the reject queue replayed through the same batches.

A queued record that loads now (its model exists, the rule it broke was fixed...) leaves the
queue; one that still cannot load stays, with one more attempt counted.
"""

from __future__ import annotations

from catalog.models import Model, Provider
from migrator import backfill as core
from migrator import mapping, source, statuses, tables
from migrator.models import Entity, RejectedRecord


def retry_failed(backfill):
    """Replay the reject queue through the same batches as a normal run."""
    by_entity = {entity: [] for entity in core.ENTITIES}
    for reject in RejectedRecord.objects.order_by("pk"):
        by_entity[reject.entity].append(reject)
    backfill.provider_slugs_in_file = set()
    backfill.model_slugs_in_file = set()
    for entity in core.ENTITIES:
        queued = by_entity[entity]
        if not queued or entity not in backfill.options.only:
            continue
        export_file = source.ExportFile(kind=entity, location="reject queue", records_key=None)
        backfill.committed.setdefault(export_file.name, 0)
        backfill._timed(
            entity, lambda e=entity, q=queued, f=export_file: _replay(backfill, e, q, f)
        )


def _replay(backfill, entity, queued, export_file):
    counts = backfill.counts[entity]
    backfill.provider_ids = dict(Provider.objects.values_list("slug", "id"))
    backfill.model_ids = dict(Model.objects.values_list("slug", "id"))
    backfill.embedded_providers = set()
    for start in range(0, len(queued), backfill.options.batch_size):
        chunk = queued[start : start + backfill.options.batch_size]
        items, model_ids, keys = [], [], []
        for reject in chunk:
            counts.read += 1
            item = _replay_item(backfill, entity, reject, export_file)
            if item is not None:
                items.append(item)
                keys.append(reject.record_key)
                if entity == Entity.STATUSES:
                    model_ids.append(item[0])
        if entity == Entity.PROVIDERS:
            backfill._flush(export_file, tables.PROVIDERS, items, core.map_provider)
        elif entity == Entity.MODELS:
            backfill._flush_models(export_file, items)
        else:
            with backfill._batch(export_file):
                existing = tables.existing_keys(tables.STATUSES, "model_id", model_ids)
                backfill._apply_statuses(export_file, items, existing=existing, record_keys=keys)


def _replay_item(backfill, entity, reject, export_file):
    """An Item (a prepared tuple for statuses) for a queued record, or None (rejected
    again) if its cause is still there."""
    raw = reject.raw
    export_file.location = reject.location or reject.file

    def again(reason, field=""):
        backfill._reject_record(
            export_file,
            entity,
            reject.record_key,
            reject.position,
            raw,
            mapping.RecordError(reason, field),
            reject.context,
        )

    try:
        if entity == Entity.PROVIDERS:
            slug = mapping.map_provider(raw)["slug"]
            return core.Item(
                slug,
                raw,
                mapping.source_hash(raw),
                record_key=reject.record_key,
                position=reject.position,
            )
        if entity == Entity.MODELS:
            provider_slug, slug = mapping.model_slug(raw)
            holder = Model.objects.filter(slug=slug).values_list("source_id", flat=True).first()
            if holder is not None and holder != (raw.get("id") or ""):
                again(f"duplicate slug {slug!r}: held by model {holder!r}", "name")
                return None
            return core.Item(
                slug,
                raw,
                mapping.source_hash(raw),
                record_key=reject.record_key,
                position=reject.position,
                slug=provider_slug,
            )
        model_slug = reject.context.get("model_slug", "")
        model_id = backfill.model_ids.get(model_slug)
        if model_id is None:
            again(f"unknown model {model_slug!r}: still no model has this slug")
            return None
        region = mapping.status_region(raw)
        values = tables.ready_converter(core.STATUS_ROW)(statuses.status_values(raw, region))
        return (model_id, region, mapping.source_hash(raw), values, None)
    except mapping.RecordError as exc:
        again(exc.reason, exc.field or "")
        return None
