"""Benchmark of backfill_json: seconds, rows/s and peak RSS, against the raw COPY limit.

    .venv/bin/python bench/backfill.py                       # 1,000,000 statuses, PG + SQLite
    .venv/bin/python bench/backfill.py --statuses 200000 --no-sqlite
    .venv/bin/python bench/backfill.py --batch-sizes 1000,5000,20000   # choose the default
    .venv/bin/python bench/backfill.py --first-load-only --also 0 --no-sqlite  # against the limit

Each backfill runs as its own process (``manage.py backfill_json``), so its peak RSS is its own;
the figure shown is the larger of that process's and its reading child's.
Scenarios: a first load into an empty database, a re-run of the same export (all unchanged: the
run recognises the export as already loaded), the same re-run with ``--full`` (read and compared
in full), a run of the export with 10% of statuses changed.

The seconds of a run are the statuses pass as the command timed it, except for the unchanged
re-runs, whose figure is the whole run as the command timed it (``seconds`` of its JSON report:
resolving the files, hashing them, the database's content digests, the run record; everything
but the interpreter's start-up and Django's setup, which the detail column shows as "process").
In the same run the physical limit is timed:
the same file, parsed by the same streaming parser, COPY'd in one transaction into an empty
table equivalent to the statuses table (same columns, indexes, checks and foreign key), and
into a bare table without indexes or constraints. The first load and those COPYs are measured
``--rounds`` times (3), each on a fresh database, and their medians reported.
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


def backfill(url: str, export: Path, *extra: str, whole: bool = False) -> Measurement:
    measurement, document = run_command(url, "backfill_json", export, *extra)
    statuses = document["entities"]["statuses"]
    measurement.rows = statuses["read"]
    measurement.detail = (
        f"ins {statuses['inserted']} upd {statuses['updated']} unch {statuses['unchanged']}"
    )
    measurement.document = document
    loaded = document.get("alreadyLoaded") or {}
    if whole:
        # The whole run as the command timed it (file hashing and digests included).
        process = measurement.seconds
        measurement.seconds = document["seconds"]
        measurement.detail += (
            f"; {'skipped (already loaded)' if loaded.get('skipped') else 'read in full'}"
            f"; process {process:.2f} s"
        )
        if loaded.get("skipped"):
            parts = ", ".join(
                f"{entity} {c['seconds']:.2f}" for entity, c in document["entities"].items()
            )
            measurement.detail += f"; hash + digest s: {parts}"
    else:
        measurement.seconds = statuses["seconds"]  # the statuses pass, as the command timed it
    return measurement


def token_cost(name: str, first: Measurement) -> str:
    """What recording the state token cost a first load: the batches' digests and the final
    one (seconds, as the run timed them)."""
    seconds = first.document["stateToken"]["seconds"]
    total = seconds.get("batches", 0) + seconds.get("end", 0)
    whole = first.document["seconds"]
    return (
        f"{name}: state token on the first load: batch digests {seconds.get('batches', 0):.2f} s "
        f"+ final digest {seconds.get('end', 0):.2f} s = {total:.2f} s of a {whole:.2f} s run "
        f"({100 * total / whole:.1f}%)"
    )


RAW_COPY = r"""
import json, os, resource, sys, time
import ijson, psycopg
url, path, table = sys.argv[1:4]
conn = psycopg.connect(url)
models = dict(conn.execute("SELECT slug, id FROM catalog_model").fetchall())
conn.execute(f"DROP TABLE IF EXISTS {table}")
if table == "bench_copy_equivalent":
    conn.execute(f"CREATE TABLE {table} (LIKE catalog_modelstatus INCLUDING ALL)")
    # LIKE copies no foreign key: add the one the statuses table has, as Django declares it.
    conn.execute(f"ALTER TABLE {table} ADD FOREIGN KEY (model_id) REFERENCES catalog_model (id) "
                 "DEFERRABLE INITIALLY DEFERRED")
else:
    conn.execute(f"CREATE TABLE {table} "
                 "(LIKE catalog_modelstatus INCLUDING DEFAULTS INCLUDING IDENTITY)")
conn.commit()
columns = ("model_id, region, status, availability, latency_p50, latency_p95, latency_p99, "
           "error_rate, requests_per_min, tokens_per_min, usage, checked_at, metadata, "
           "source_hash, created_at, updated_at")
now = "2026-01-01T00:00:00+00:00"
started = time.perf_counter()
rows = 0
with open(path, "rb") as f, conn.cursor() as cur:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for slug, value in ijson.kvitems(f, "statuses", use_float=True):
            model_id = models[slug]
            for r in (value if type(value) is list else (value,)):
                copy.write_row((model_id, r.get("region") or "global", r.get("status", "unknown"),
                    r.get("availability"), r.get("latencyP50"), r.get("latencyP95"),
                    r.get("latencyP99"), r.get("errorRate"), r.get("requestsPerMin"),
                    r.get("tokensPerMin"), r.get("usage"), r.get("checkedAt"), "{}", "", now, now))
                rows += 1
conn.commit()
copied = time.perf_counter() - started
if table == "bench_copy_build":
    # The physical limit's second half: the statuses table's own indexes and constraints,
    # built once over the loaded rows (their definitions read from the real table).
    for (definition,) in conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'catalog_modelstatus'"
    ).fetchall():
        name = definition.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
        conn.execute(definition.replace(name, "bench_" + name, 1)
                     .replace("public.catalog_modelstatus", table))
    for name, definition in conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'catalog_modelstatus'::regclass AND contype IN ('c', 'f')"
    ).fetchall():
        conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT bench_{name} {definition}")
    conn.commit()
seconds = time.perf_counter() - started
conn.execute(f"DROP TABLE {table}")
conn.commit()
print(json.dumps({"rows": rows, "seconds": seconds, "copy_seconds": copied}))
"""


def raw_copy(url: str, export: Path, table: str) -> Measurement:
    measurement = run_measured(
        [sys.executable, "-c", RAW_COPY, url, str(export / "model-status.json"), table], url
    )
    result = json.loads(measurement.stdout)
    measurement.rows, measurement.seconds = result["rows"], result["seconds"]
    return measurement


def kept(url: str) -> str:
    """What the runs kept for --undo (tables absent before they existed: "-")."""
    code = (
        "import django; django.setup()\n"
        "try:\n"
        "    from migrator.models import InsertedRows, RowImage\n"
        "    print(InsertedRows.objects.count(), RowImage.objects.count())\n"
        "except ImportError:\n"
        "    print('- -')\n"
    )
    import subprocess

    from bench.common import _env

    env = _env(url) | {"DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    inserted, images = (done.stdout.split() or ["?", "?"])[:2]
    return f"kept: {inserted} inserted-id records, {images} row images"


def runs_only(args, base: Path, changed: Path) -> None:
    results = []
    url = create_database(args.postgres, "h12b_bench_backfill")
    try:
        manage(url, "migrate", "-v", "0")
        for name, export in (("first load", base), ("re-run, unchanged", base)):
            results.append((f"PostgreSQL: {name}", backfill(url, export)))
        results.append(("PostgreSQL: re-run, 10% changed", backfill(url, changed)))
        results[-1][1].detail += "; " + kept(url)
    finally:
        drop_database(args.postgres, url)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.sqlite3"
            manage(url, "migrate", "-v", "0")
            results.append(("SQLite: first load", backfill(url, base)))
            results.append(("SQLite: re-run, unchanged", backfill(url, base)))
            results.append(("SQLite: re-run, 10% changed", backfill(url, changed)))
            results[-1][1].detail += "; " + kept(url)
    print_table(results)
    print(f"\n(code at {ROOT}; measured {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statuses", type=int, default=1_000_000)
    parser.add_argument(
        "--also",
        type=int,
        default=2_000_000,
        help="a second size for the first load (peak RSS flat?); 0 to skip",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--skip-changed", action="store_true", help="SQLite: no 10%%-changed run (time)"
    )
    parser.add_argument("--batch-sizes", default="", help="comma list: time first loads only")
    parser.add_argument(
        "--runs-only",
        action="store_true",
        help="only a first load, an unchanged re-run and a 10%%-changed re-run per database "
        "(what the kept before-images cost: compare with a checkout before them)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="PostgreSQL: first loads and raw COPYs measured this many times (medians shown)",
    )
    parser.add_argument(
        "--first-load-only",
        action="store_true",
        help="PostgreSQL: no re-runs (the first load against the limit only)",
    )
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "catalog-bench"))
    args = parser.parse_args()

    workdir = Path(args.workdir)
    base = export_for(workdir, args.statuses)
    changed = export_for(workdir, args.statuses, changed=0.10)
    print(
        f"export: {args.statuses:,} statuses over {args.statuses // 50:,} models "
        f"({(base / 'model-status.json').stat().st_size / 1e6:.0f} MB) in {workdir}\n"
    )

    if args.batch_sizes:
        results = []
        for size in [int(s) for s in args.batch_sizes.split(",")]:
            url = create_database(args.postgres, "bench_backfill")
            manage(url, "migrate", "-v", "0")
            results.append(
                (
                    f"PostgreSQL first load, --batch-size {size}",
                    backfill(url, base, "--batch-size", str(size)),
                )
            )
            drop_database(args.postgres, url)
        print_table(results)
        return

    if args.runs_only:
        runs_only(args, base, changed)
        return

    results = []
    # The first load and the raw COPYs it is compared with, round after round on a fresh
    # database each (the median of each is reported: this machine's speed drifts between
    # minutes); the re-runs once, on the first round's database.
    rounds = {"first": [], "equivalent": [], "bare": [], "limit": []}
    for number in range(args.rounds):
        url = create_database(args.postgres, "bench_backfill")
        try:
            manage(url, "migrate", "-v", "0")
            rounds["first"].append(backfill(url, base))
            if number == 0 and not args.first_load_only:
                rerun = backfill(url, base, whole=True)
                rerun_full = backfill(url, base, "--full", whole=True)
                reruns = [
                    ("PostgreSQL: re-run, unchanged (whole run)", rerun),
                    ("PostgreSQL: re-run, unchanged, --full (whole run)", rerun_full),
                    ("PostgreSQL: re-run, 10% changed", backfill(url, changed)),
                    (
                        "PostgreSQL: dry run (all read, nothing kept)",
                        backfill(url, base, "--dry-run"),
                    ),
                ]
            rounds["equivalent"].append(raw_copy(url, base, "bench_copy_equivalent"))
            rounds["bare"].append(raw_copy(url, base, "bench_copy_bare"))
            rounds["limit"].append(raw_copy(url, base, "bench_copy_build"))
        finally:
            drop_database(args.postgres, url)
    first, equivalent, bare, limit = (
        sorted(measured, key=lambda m: m.seconds)[len(measured) // 2]
        for measured in rounds.values()
    )
    of = f" (median of {args.rounds})" if args.rounds > 1 else ""
    results.append((f"PostgreSQL: first load (empty database){of}", first))
    if not args.first_load_only:
        results += reruns
    results.append((f"PostgreSQL: raw parse + COPY, equivalent table{of}", equivalent))
    results.append((f"PostgreSQL: raw parse + COPY, bare table{of}", bare))
    results.append((f"PostgreSQL: limit: parse + COPY bare + build indexes{of}", limit))
    if args.rounds > 1:
        for name, measured in rounds.items():
            figures = ", ".join(f"{m.seconds:.2f}" for m in measured)
            print(f"rounds, {name}: {figures} s")
        ratios = ", ".join(
            f"{f.rows / f.seconds / (m.rows / m.seconds):.2f}x"
            for f, m in zip(rounds["first"], rounds["limit"], strict=True)
        )
        print(f"rounds, first load / the limit of the same round: {ratios}")
    if args.also:
        bigger = export_for(workdir, args.also)
        url = create_database(args.postgres, "bench_backfill")
        try:
            manage(url, "migrate", "-v", "0")
            results.append(
                (f"PostgreSQL: first load, {args.also:,} statuses", backfill(url, bigger))
            )
        finally:
            drop_database(args.postgres, url)
    costs = [token_cost("PostgreSQL", first)]
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.sqlite3"
            manage(url, "migrate", "-v", "0")
            sqlite_first = backfill(url, base)
            results.append(("SQLite: first load (empty database)", sqlite_first))
            costs.append(token_cost("SQLite", sqlite_first))
            results.append(
                ("SQLite: re-run, unchanged (whole run)", backfill(url, base, whole=True))
            )
            results.append(
                (
                    "SQLite: re-run, unchanged, --full (whole run)",
                    backfill(url, base, "--full", whole=True),
                )
            )
            if not args.skip_changed:
                results.append(("SQLite: re-run, 10% changed", backfill(url, changed)))
    print_table(results)
    print()
    for line in costs:
        print(line)
    first_rate = first.rows / first.seconds
    print(
        f"\nfirst load / the physical limit (parse + COPY into a bare table + building its "
        f"indexes and constraints, {limit.seconds:.1f} s): "
        f"{first_rate / (limit.rows / limit.seconds):.2f}x"
    )
    print(
        f"first load / raw COPY into the equivalent table: "
        f"{first_rate / (equivalent.rows / equivalent.seconds):.2f}x"
    )
    print(
        f"first load / raw COPY into a bare table:         "
        f"{first_rate / (bare.rows / bare.seconds):.2f}x"
    )
    reruns = () if args.first_load_only else (("", rerun), (" --full", rerun_full))
    for label, unchanged in reruns:
        print(
            f"unchanged re-run{label} (whole run) / raw COPY into the equivalent table: "
            f"{(unchanged.rows / unchanged.seconds) / (equivalent.rows / equivalent.seconds):.2f}x"
        )
        print(
            f"unchanged re-run{label} (whole run) / raw COPY into a bare table:         "
            f"{(unchanged.rows / unchanged.seconds) / (bare.rows / bare.seconds):.2f}x"
        )
    print(f"\n(measured {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
