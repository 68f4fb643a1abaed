"""What backfill_json prints: a per-entity table like pgloader's, or one JSON document."""

from __future__ import annotations

from migrator.backfill import ENTITIES, Counts, Result

COLUMNS = (
    ("read", "read"),
    ("inserted", "inserted"),
    ("updated", "updated"),
    ("unchanged", "unchanged"),
    ("rejected", "rejected"),
    ("pruned", "pruned"),
    ("absent", "absent"),
    ("warnings", "warnings"),
)


def _size(size) -> str:
    if size is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""  # pragma: no cover


def _row(name: str, counts: Counts) -> str:
    cells = "".join(f"{getattr(counts, attr):>10}" for attr, _ in COLUMNS)
    return f"{name:<10}{cells}{counts.seconds:>10.2f}{counts.rows_per_second:>10.0f}"


def backfill_text(result: Result, *, verbosity: int = 1) -> str:
    run = result.run
    kind = "dry run (nothing written)" if run.dry_run else "run"
    lines = [f"backfill {kind} #{run.pk}: {run.get_outcome_display()}"]
    for export_file in result.files:
        digest = (export_file.sha256 or "?")[:12]
        lines.append(
            f"  {export_file.name:<18} {_size(export_file.size):>9}  sha256 {digest}  "
            f"{export_file.location}"
        )
    header = "".join(f"{title:>10}" for _, title in COLUMNS)
    lines += ["", f"{'entity':<10}{header}{'seconds':>10}{'rows/s':>10}"]
    lines += [_row(entity, result.counts[entity]) for entity in ENTITIES]
    lines.append(_row("total", result.totals()))
    if result.embedded_providers:
        lines.append(
            f"\n{len(result.embedded_providers)} provider(s) taken from models.json (absent from "
            f"providers.json): {', '.join(result.embedded_providers)}"
        )
    if run.error:
        batches = ", ".join(f"{name}: {n}" for name, n in result.committed_batches.items())
        lines.append(f"\nstopped: {run.error}\ncommitted batches: {batches or 'none'}")
    shown = result.rejects if verbosity >= 2 else result.rejects[:20]
    if shown:
        lines.append(f"\nrejected records ({result.rejected}):")
        lines += [f"  {r.entity:<9} {r.file} {r.position}: {r.reason}" for r in shown]
        if result.rejected > len(shown):
            lines.append(f"  ... {result.rejected - len(shown)} more (admin: Rejected records)")
    warnings = result.warnings if verbosity >= 2 else result.warnings[:10]
    if warnings:
        total = sum(c.warnings for c in result.counts.values())
        lines.append(f"\ndata-quality warnings ({total}; loaded as given):")
        lines += [f"  {w}" for w in warnings]
    return "\n".join(lines)


def backfill_document(result: Result) -> dict:
    run = result.run
    return {
        "run": run.pk,
        "outcome": run.outcome,
        "dryRun": run.dry_run,
        "error": run.error or None,
        "sources": [f.describe() for f in result.files],
        "entities": {entity: result.counts[entity].as_dict() for entity in ENTITIES},
        "totals": result.totals().as_dict(),
        "committedBatches": result.committed_batches,
        "providersFromModels": result.embedded_providers,
        "rejects": [
            {
                "entity": r.entity,
                "key": r.record_key,
                "file": r.file,
                "position": r.position,
                "field": r.field,
                "reason": r.reason,
            }
            for r in result.rejects
        ],
        "warnings": result.warnings,
    }
