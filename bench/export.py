"""Benchmark of export_json: seconds, rows/s and peak RSS, beside the first backfill's in the same
run (the target: the export at least as fast as that first load, peak RSS under 150 MB).

    .venv/bin/python bench/export.py                         # 1,000,000 statuses, PG + SQLite
    .venv/bin/python bench/export.py --statuses 200000 --no-sqlite
    .venv/bin/python bench/export.py --check                 # also: loading the export back
                                                             # changes nothing

Each command runs as its own process (``manage.py ...``), so its peak RSS (from wait4) is its own;
for the backfill, the larger of its process's and its reading child's. Both are timed as whole
commands (wall time of the process, start-up included).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    Measurement,
    create_database,
    drop_database,
    export_for,
    manage,
    print_table,
    run_command,
    run_measured,
)


def first_backfill(url: str, export: Path) -> Measurement:
    measurement, document = run_command(url, "backfill_json", export)
    statuses = document["entities"]["statuses"]
    measurement.rows = statuses["read"]
    measurement.detail = f"inserted {statuses['inserted']}"
    return measurement


def export_json(url: str, directory: Path) -> Measurement:
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(ROOT / "manage.py"), "export_json", str(directory)]
    measurement = run_measured([*command, "--format", "json"], url)
    document = json.loads(measurement.stdout)
    files = {f["name"]: f for f in document["files"]}
    measurement.rows = files["model-status.json"]["records"]
    size = sum(f["size"] for f in files.values()) / 1e6
    measurement.detail = f"{size:.0f} MB written; changed: {document['changed']}"
    return measurement


def reload_changes(url: str, directory: Path) -> str:
    """Load the export back into the database it came from: what changed (nothing, we hope)."""
    measurement, document = run_command(url, "backfill_json", directory)
    totals = document["totals"]
    return (
        f"inserted {totals['inserted']} updated {totals['updated']} "
        f"unchanged {totals['unchanged']} ({measurement.seconds:.1f} s)"
    )


def scenario(label: str, url: str, base: Path, workdir: Path, check: bool) -> list:
    manage(url, "migrate", "-v", "0")
    first = first_backfill(url, base)
    out = workdir / f"exported-{label.lower()}"
    exported = export_json(url, out)
    again = export_json(url, out)
    results = [
        (f"{label}: first backfill (empty database)", first),
        (f"{label}: export_json", exported),
        (f"{label}: export_json again (same bytes)", again),
    ]
    ratio = exported.rate / first.rate
    print(
        f"{label}: export_json at {ratio:.2f}x the first backfill's rows/s "
        f"(target >= 1); peak RSS {exported.peak_rss_mb:.0f} MB (target < 150)",
        flush=True,
    )
    if check:
        print(f"{label}: backfill_json of the export: {reload_changes(url, out)}", flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statuses", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--check", action="store_true", help="load each export back (slow)")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "catalog-bench"))
    args = parser.parse_args()

    workdir = Path(args.workdir)
    base = export_for(workdir, args.statuses)
    print(
        f"export: {args.statuses:,} statuses over {args.statuses // 50:,} models "
        f"({(base / 'model-status.json').stat().st_size / 1e6:.0f} MB) in {workdir}\n",
        flush=True,
    )
    results = []
    if not args.no_postgres:
        url = create_database(args.postgres, "bench_export")
        try:
            results += scenario("PostgreSQL", url, base, workdir, args.check)
        finally:
            drop_database(args.postgres, url)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.sqlite3"
            results += scenario("SQLite", url, base, workdir, args.check)
    print()
    print_table(results)
    print(f"\n(measured {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
