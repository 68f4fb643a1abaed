"""What the operator commands print: tables for people, one JSON document for scripts."""

from __future__ import annotations

from migrator.backfill import ENTITIES, Counts, Result
from migrator.child_process import children_peak_rss_mb

COLUMNS = (
    ("read", "read"),
    ("inserted", "inserted"),
    ("updated", "updated"),
    ("unchanged", "unchanged"),
    ("rejected", "rejected"),
    ("merged", "merged"),
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
            f"{export_file.shown}"
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
    lines += [f"\n{note}" for note in result.notes]
    stale = result.totals().stale
    if stale:
        lines.append(f"stale: {stale} status(es) older than the stored row, skipped")
    if run.error:
        batches = ", ".join(f"{name}: {n}" for name, n in run.committed_batches.items() if n)
        written = "nothing (dry run)" if run.dry_run else (batches or "none")
        lines.append(f"\nstopped: {run.error}\ncommitted batches: {written}")
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
        "readerPeakRssMb": round(children_peak_rss_mb(), 1),
        "notes": result.notes,
        # The whole run as the command timed it (hashing the files and digests included).
        "seconds": round(result.seconds, 3),
        # The skip check (None for --dry-run, --only, --retry-failed): ``skipped`` true when the
        # run was recognised as already loaded (nothing read or written), else ``reason``.
        "alreadyLoaded": result.already_loaded.as_dict() if result.already_loaded else None,
        "stateToken": {"recorded": result.token_recorded, "seconds": result.token_seconds},
        "totals": result.totals().as_dict(),
        "committedBatches": run.committed_batches,
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


# --- validate_migration ----------------------------------------------------------------------

VALIDATION_COLUMNS = (
    ("in_export", "export"),
    ("in_database", "database"),
    ("matched", "matched"),
    ("missing", "missing"),
    ("extra", "extra"),
    ("changed", "changed"),
    ("orphans", "orphans"),
    ("excused", "rejects"),
    ("merged", "merged"),
)
SYMBOLS = {
    "missing": "-",
    "extra": "+",
    "changed": "~",
    "orphan": "!",
    "integrity": "!",
    "rejected": "x",
}


def _value(value) -> str:
    import json

    if hasattr(value, "isoformat"):
        return value.isoformat()
    return json.dumps(value, default=str, sort_keys=True)


def difference_lines(difference) -> list[str]:
    symbol = SYMBOLS[difference.kind]
    head = f"{symbol} {difference.entity} {difference.key}"
    if difference.kind == "changed":
        return [
            f"~ {difference.entity} {difference.key} {field}: {_value(a)} → {_value(b)}"
            for field, a, b in difference.changes
        ]
    label = {
        "missing": "missing from the database",
        "extra": "extra in the database",
        "orphan": "orphan",
        "integrity": "integrity",
        "rejected": "rejected (--strict)",
    }
    detail = f": {difference.detail}" if difference.detail else ""
    return [f"{head}  ({label[difference.kind]}{detail})"]


def validation_text(report, *, verbose: bool = False) -> str:
    options = report.options
    mode = "every stored value compared"

    outcome = "PASSED" if report.passed else f"FAILED ({report.difference_count} differences)"
    title = f"validation #{report.run.pk}" if report.run.pk else "comparison"
    lines = [f"{title}: {outcome} — {mode}"]
    for export_file in report.files:
        lines.append(
            f"  {export_file.name:<18} {_size(export_file.size):>9}  sha256 "
            f"{(export_file.sha256 or '?')[:12]}  {export_file.shown}"
        )
    if report.against:
        lines.append(f"  against the database {report.against} (its rows stand for the export)")
    titles = [("other" if report.against and t == "export" else t) for _, t in VALIDATION_COLUMNS]
    header = "".join(f"{title:>10}" for title in titles)
    lines += ["", f"{'entity':<10}{'state':>12}{header}{'seconds':>9}{'rows/s':>9}"]
    for entity, result in report.entities.items():
        cells = "".join(f"{getattr(result, attr):>10}" for attr, _ in VALIDATION_COLUMNS)
        rate = result.in_export / result.seconds if result.seconds else 0
        lines.append(
            f"{entity:<10}{result.state(strict=options.strict):>12}{cells}"
            f"{result.seconds:>9.2f}{rate:>9.0f}"
        )
    found = {name: n for name, n in report.integrity.items() if n}
    lines.append(
        "\nintegrity: "
        + ("all checks clean" if not found else "; ".join(f"{k}: {v}" for k, v in found.items()))
        + f" ({len(report.integrity)} checks)"
    )
    if report.warnings:
        lines.append(
            "data-quality warnings (do not fail the run): "
            + "; ".join(f"{k}: {v}" for k, v in sorted(report.warnings.items()))
        )
        shown = report.warning_examples if verbose else report.warning_examples[:5]
        lines += [f"  {w}" for w in shown]
    if report.known_rejects:
        excused = sum(r.excused for r in report.entities.values())
        verb = "counted as differences (--strict)" if options.strict else "excused"
        lines.append(f"known rejects ({len(report.known_rejects)} in the queue, {excused} {verb}):")
        shown = report.known_rejects if verbose else report.known_rejects[: options.limit]
        lines += [f"  x {r['entity']} {r['key']}: {r['reason']}" for r in shown]
    if report.differences:
        shown = report.differences if verbose else report.differences[: options.limit]
        lines.append(
            f"\ndifferences ({len(shown)} of {report.difference_count} shown"
            + ("" if verbose else "; -v 2 for all")
            + "):"
        )
        for difference in shown:
            lines += [f"  {line}" for line in difference_lines(difference)]
    return "\n".join(lines)


# --- switch_backend status -------------------------------------------------------------------


def export_text(result) -> str:
    """export_json's summary: one line per file written."""
    state = "written" if result.changed else "written, unchanged"
    lines = [f"export {state}: {result.directory} ({result.seconds:.2f} s)"]
    for written in result.files:
        mark = "" if written.changed else "  (same bytes as before)"
        lines.append(
            f"  {written.name:<18}{written.records:>10} records {_size(written.size):>10}  "
            f"sha256 {written.sha256[:12]}{mark}"
        )
    return "\n".join(lines)


# --- copy_database, backup_db, restore_db ---------------------------------------------------

COPY_COLUMNS = ("read", "inserted", "updated", "unchanged", "extra", "deleted")


def _rows(rows: dict) -> str:
    return ", ".join(f"{n} {name}" for name, n in rows.items())


def copy_text(result) -> str:
    lines = [f"copy from {result.source} to {result.target}"]
    if result.backup is not None:
        lines.append(f"  backup of the source: {backup_text(result.backup)}")
    header = "".join(f"{title:>10}" for title in COPY_COLUMNS)
    lines += ["", f"{'table':<18}{header}{'seconds':>10}{'rows/s':>10}"]
    for counts in [*result.tables, result.totals()]:
        cells = "".join(f"{getattr(counts, attr):>10}" for attr in COPY_COLUMNS)
        lines.append(
            f"{counts.table:<18}{cells}{counts.seconds:>10.2f}{counts.rows_per_second:>10.0f}"
        )
    return "\n".join(lines)


def backup_text(backup) -> str:
    return (
        f"{backup.path} ({backup.method}, {_size(backup.size)}, {backup.seconds:.2f} s; "
        f"{_rows(backup.rows)})"
    )


def restore_text(restored) -> str:
    return (
        f"restored {restored.path} ({restored.kind}) in {restored.seconds:.2f} s: "
        f"the database holds {_rows(restored.rows)}"
    )


def undo_text(result) -> str:
    lines = [f"backfill run #{result.run.pk}: undid run #{result.undone.pk}", ""]
    lines.append(f"{'entity':<10}{'deleted':>10}{'restored':>10}{'unpruned':>10}")
    for entity, c in result.counts.items():
        lines.append(f"{entity:<10}{c['deleted']:>10}{c['restored']:>10}{c['unpruned']:>10}")
    lines.append(
        "\ndeleted: rows the run inserted; restored: rows it updated, put back as they were "
        "before it; unpruned: rows it pruned, back from the archive"
    )
    return "\n".join(lines)
