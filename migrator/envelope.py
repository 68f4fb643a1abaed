"""Each export file's envelope (the fields around its records), kept per export.

models.json's ``metadata``, ``statistics``, ``typeStatistics`` and ``providers`` list and
model-status.json's ``version`` and ``lastUpdated`` (any field around the records, in fact) are
recorded by backfill_json once per distinct file (by SHA-256), with the records of that file
merged into others; ``latest_envelope`` reads them back (e.g. to write the export back out).
"""

from __future__ import annotations

from migrator import source
from migrator.models import BackfillRun, ExportEnvelope


def envelope_record(
    export_file: source.ExportFile, *, merged: list | None = None, run: BackfillRun | None = None
) -> ExportEnvelope | None:
    """Keep ``export_file``'s envelope (once it has been read) as the latest of its kind."""
    if export_file.sha256 is None:
        return None
    envelope = dict(export_file.envelope)
    if export_file.kind == "models":
        envelope.setdefault("_shape", export_file.shape)
    record, _ = ExportEnvelope.objects.update_or_create(
        kind=export_file.kind,
        sha256=export_file.sha256,
        defaults={"envelope": envelope, "merged": merged or [], "run": run},
    )
    return record


def latest_envelope(kind: str) -> dict:
    """The envelope of the latest file of ``kind`` (``models``, ``statuses``) that backfill_json
    read, ``{}`` when none: e.g. ``{"metadata": {...}, "statistics": {...}, "providers": [...]}``.
    ``_shape`` says whether that models.json was an ``object`` or a bare ``array``. The envelope
    of a run that was undone (backfill_json --undo) is not the latest any more."""
    record = latest_envelope_record(kind)
    return dict(record.envelope) if record is not None else {}


def latest_envelope_record(kind: str) -> ExportEnvelope | None:
    """The ExportEnvelope :func:`latest_envelope` reads (None when there is none)."""
    kept = ExportEnvelope.objects.filter(kind=kind).exclude(run__undone_by__isnull=False)
    return kept.order_by("-last_seen", "-id").first()
