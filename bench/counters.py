"""What the shared traffic counters cost: record() per read, one flush, one window query, and
their readers: the targets, a /metrics scrape and a fold into the lifetime totals.

    .venv/bin/python bench/counters.py                    # PostgreSQL (a fresh database)
    .venv/bin/python bench/counters.py --workers 50 --minutes 60

record() is on every read's path (in memory); flush() runs once a second per worker (an upsert
of its changed minutes); window() runs after each flush (the guard), over every worker's rows;
targets.check() every 5 s per worker; a /metrics scrape reads every row not yet folded (up to an
hour's, plus the totals).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import create_database, drop_database, manage  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=20, help="simulated workers' rows")
    parser.add_argument("--minutes", type=int, default=60, help="minutes of rows per worker")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    url = create_database(args.postgres, "bench_counters")
    try:
        manage(url, "migrate", "-v", "0")
        os.environ.update(
            DATABASE_URL=url,
            DEBUG="true",
            ENV_FILE="/nonexistent/.env",
            COUNTERS_IN_BACKGROUND="true",
            COUNTERS_FLUSH_SECONDS="3600",  # flushed by hand below
            DJANGO_SETTINGS_MODULE="config.settings",
        )
        import django

        django.setup()
        measure(args)
        from django.db import connection

        connection.close()
    finally:
        drop_database(args.postgres, url)


def measure(args):
    import datetime as dt

    from django.utils import timezone

    from live import counters
    from migrator.models import TrafficBucket

    worker = counters.Counters()
    started = time.perf_counter()
    for i in range(args.records):
        worker.record("database", ("models", "status", "providers")[i % 3], 200, 0.012)
    per_record = (time.perf_counter() - started) / args.records
    started = time.perf_counter()
    worker.flush()
    flush_seconds = time.perf_counter() - started

    now = counters.minute_of(timezone.now())
    rows = [
        TrafficBucket(
            minute=now - dt.timedelta(minutes=m),
            worker=f"bench:{w}",
            store="database",
            endpoint="models",
            requests=100,
            errors=1,
            latency=[10] * (len(counters.BOUNDS) + 1),
        )
        for w in range(args.workers)
        for m in range(args.minutes)
    ]
    TrafficBucket.objects.bulk_create(rows, batch_size=2000)
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        counters.window("database", 60)
        timings.append(time.perf_counter() - started)
    timings.sort()
    from live import metrics, targets, totals

    def median(work, times=10):
        found = []
        for _ in range(times):
            started = time.perf_counter()
            work()
            found.append(time.perf_counter() - started)
        return sorted(found)[len(found) // 2]

    evaluate_seconds = median(targets.evaluate)
    scrape_seconds = median(metrics.exposition)
    started = time.perf_counter()
    folded = totals.fold(now=timezone.now() + dt.timedelta(hours=2))
    fold_seconds = time.perf_counter() - started
    folded_scrape_seconds = median(metrics.exposition)
    print(f"record():            {per_record * 1e6:.2f} µs per read ({args.records} reads)")
    print(f"flush():             {flush_seconds * 1000:.1f} ms (3 endpoint rows)")
    print(
        f"window(60 s):        {timings[len(timings) // 2] * 1000:.1f} ms median over "
        f"{len(rows)} rows in the table ({args.workers} workers x {args.minutes} minutes)"
    )
    print(f"targets.evaluate():  {evaluate_seconds * 1000:.1f} ms median (2 stores x 5 and 60 min)")
    print(f"/metrics body:       {scrape_seconds * 1000:.1f} ms median, every row unfolded")
    print(f"fold():              {fold_seconds * 1000:.1f} ms ({folded} rows into the totals)")
    print(f"/metrics body:       {folded_scrape_seconds * 1000:.1f} ms median, after the fold")


if __name__ == "__main__":
    main()
