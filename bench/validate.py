"""Benchmark of validate_migration: seconds, rows/s and peak RSS, next to the first backfill.

    .venv/bin/python bench/validate.py                     # 1,000,000 statuses (and 2,000,000)
    .venv/bin/python bench/validate.py --statuses 200000 --also 0 --no-sqlite

The database is loaded by backfill_json from the synthetic export; validate_migration then runs
as its own process (its peak RSS is its own) against the same export (identical database) and
against a variant with 1% of statuses changed, 0.1% missing and 0.1% extra.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backfill import backfill  # noqa: E402
from bench.common import (  # noqa: E402
    Measurement,
    create_database,
    drop_database,
    export_for,
    manage,
    print_table,
    run_command,
)

VARIANT = {"changed": 0.01, "drop": 0.001, "extra": 0.001}


def validate(url: str, export: Path, *extra: str) -> Measurement:
    measurement, document = run_command(url, "validate_migration", export, *extra)
    statuses = document["entities"]["statuses"]
    measurement.rows = statuses["in_export"]
    measurement.seconds = statuses["seconds"]
    measurement.detail = (
        f"{'passed' if document['passed'] else 'failed'}: changed {statuses['changed']} "
        f"missing {statuses['missing']} extra {statuses['extra']}"
    )
    return measurement


def scenarios(label: str, url: str, base: Path, variant: Path) -> list:
    manage(url, "migrate", "-v", "0")
    results = [(f"{label}: first backfill", backfill(url, base))]
    results.append((f"{label}: validate, identical", validate(url, base)))
    results.append(
        (f"{label}: validate, 1% changed 0.1% missing 0.1% extra", validate(url, variant))
    )
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statuses", type=int, default=1_000_000)
    parser.add_argument(
        "--also", type=int, default=2_000_000, help="a second size (is peak RSS flat?); 0 to skip"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "catalog-bench"))
    args = parser.parse_args()
    workdir = Path(args.workdir)
    base = export_for(workdir, args.statuses)
    variant = export_for(workdir, args.statuses, **VARIANT)
    print(f"export: {args.statuses:,} statuses over {args.statuses // 50:,} models\n")

    results = []
    url = create_database(args.postgres, "bench_validate")
    try:
        results += scenarios("PostgreSQL", url, base, variant)
    finally:
        drop_database(args.postgres, url)
    if args.also:
        bigger = export_for(workdir, args.also)
        url = create_database(args.postgres, "bench_validate")
        try:
            manage(url, "migrate", "-v", "0")
            backfill(url, bigger)
            results.append(
                (f"PostgreSQL: validate, identical, {args.also:,} statuses", validate(url, bigger))
            )
        finally:
            drop_database(args.postgres, url)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            results += scenarios("SQLite", f"sqlite:///{tmp}/bench.sqlite3", base, variant)
    print_table(results)
    first, identical = results[0][1], results[1][1]
    print(
        f"\nPostgreSQL: validation of an identical database took {identical.seconds:.1f} s, "
        f"the first backfill {first.seconds:.1f} s "
        f"({'within' if identical.seconds <= first.seconds else 'OVER'} the target)"
    )
    print(f"(measured {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
