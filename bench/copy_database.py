"""Benchmark of copy_database SQLite -> PostgreSQL: seconds, rows/s and peak RSS.

    .venv/bin/python bench/copy_database.py                      # 1,000,000 statuses
    .venv/bin/python bench/copy_database.py --statuses 100000

A SQLite database is loaded from a synthetic export (migrate, backfill_json), then copied into a
fresh PostgreSQL database twice, each run its own process (``manage.py copy_database --format
json``): a first copy into the empty database, and a re-run that finds every row unchanged.
Each run includes the comparison of the two databases that copy_database ends with; its share
is printed apart. The source's backup (SQLite's online backup API) is timed on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    create_database,
    drop_database,
    export_for,
    manage,
    print_table,
    run_measured,
)


def copy(source_url: str, target_url: str, *extra: str):
    command = [sys.executable, str(ROOT / "manage.py"), "copy_database", "--from", source_url]
    command += ["--to", target_url, "--format", "json", *extra]
    measurement = run_measured(command, source_url)
    document = json.loads(measurement.stdout)
    total = document["total"]
    measurement.rows = total["read"]
    compared = sum(e["seconds"] for e in document["comparison"]["entities"].values())
    measurement.detail = (
        f"ins {total['inserted']} upd {total['updated']} unch {total['unchanged']}; "
        f"copy {total['seconds']:.1f} s, compare {compared:.1f} s, "
        f"passed {document['comparison']['passed']}"
    )
    return measurement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statuses", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--workdir", default=os.path.join(tempfile.gettempdir(), "catalog-bench-copy")
    )
    args = parser.parse_args()

    workdir = Path(args.workdir)
    export = export_for(workdir, args.statuses)
    sqlite_path = workdir / f"source-{args.statuses}.sqlite3"
    source_url = f"sqlite:///{sqlite_path}"
    if not (workdir / f"source-{args.statuses}.loaded").exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
        print(f"loading {sqlite_path} ...", flush=True)
        manage(source_url, "migrate", "-v", "0")
        manage(source_url, "backfill_json", str(export), "--format", "json", ok=(0, 1))
        (workdir / f"source-{args.statuses}.loaded").touch()
    manage(source_url, "migrate", "-v", "0")  # a source loaded by an older release

    backup_path = workdir / "backup.sqlite3"
    backup_path.unlink(missing_ok=True)
    command = [sys.executable, str(ROOT / "manage.py"), "backup_db", str(backup_path)]
    backup = run_measured([*command, "--format", "json"], source_url)
    backup.rows = sum(json.loads(backup.stdout)["rows"].values())
    backup.detail = f"{backup_path.stat().st_size / 1e6:.0f} MB"
    backup_path.unlink(missing_ok=True)

    target = create_database(args.postgres, "h12b_bench")
    try:
        first = copy(source_url, target, "--no-backup")
        again = copy(source_url, target, "--no-backup")
    finally:
        drop_database(args.postgres, target)
    print(f"\ncopy_database sqlite -> postgresql, {args.statuses:,} statuses")
    print_table(
        [
            ("backup_db (sqlite online backup)", backup),
            ("copy into an empty database", first),
            ("re-run (nothing to change)", again),
        ]
    )


if __name__ == "__main__":
    main()
