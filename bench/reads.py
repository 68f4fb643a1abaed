"""Reads from the database store at scale: the API's aggregates, lists and searches, and the admin's
changelists and searches, each timed cold (the first read after a write) and warm (from the
response cache), through Django's test client in this process.

    .venv/bin/python bench/reads.py                       # 1,000,000 statuses, PostgreSQL
    .venv/bin/python bench/reads.py --statuses 100000 --sqlite

A fresh database (PostgreSQL ``bench13_reads_*`` or a SQLite file) is loaded with a synthetic
export by backfill_json; each figure is the median of ``--repeat`` requests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import create_database, drop_database, export_for, manage  # noqa: E402

API = [
    "/api/v1/status",
    "/api/v1/providers",
    "/api/v1/models?limit=50",
    "/api/v1/models?limit=500",
    "/api/v1/models?q=model-123",
    "/api/v1/models?provider=provider0001&status=outage",
    "/api/v1/models?status=unknown&limit=50",
    "/api/v1/models/provider0001-model-1-v1.1",
]
ADMIN = [
    "/admin/catalog/modelstatus/",
    "/admin/catalog/modelstatus/?status__exact=outage",
    "/admin/catalog/modelstatus/?q=provider0001-model-1",
    "/admin/catalog/modelstatus/?q=eu-west-1",
    "/admin/catalog/modelstatus/?q=nothing-like-this",
    "/admin/catalog/modelstatus/?model__provider__id__exact=2",
    "/admin/catalog/model/",
    "/admin/catalog/model/?q=model-123",
    "/admin/catalog/model/?provider__id__exact=2&is_active__exact=1",
    "/admin/catalog/provider/",
    "/admin/catalog/provider/?q=provider001",
]


def timed(client, url) -> float:
    started = time.perf_counter()
    response = client.get(url, HTTP_HOST="localhost")
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url}: {response.status_code} {response.content[:300]!r}")
    return elapsed


def touch_catalog():
    """A one-row write, as a monitor's status update: the catalog version moves."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_modelstatus SET usage = usage WHERE id = "
            "(SELECT min(id) FROM catalog_modelstatus)"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statuses", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "bench13"))
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()

    export = export_for(Path(args.workdir), args.statuses)
    if args.sqlite:
        url = f"sqlite:///{Path(args.workdir) / f'reads-{args.statuses}.sqlite3'}"
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        url = create_database(args.postgres, "bench13_reads")
    os.environ.update(
        DATABASE_URL=url,
        DEBUG="true",
        ENV_FILE="/nonexistent/.env",
        DJANGO_SETTINGS_MODULE="config.settings",
        DATA_BACKEND="database",
    )
    try:
        manage(url, "migrate", "-v", "0")
        started = time.perf_counter()
        manage(url, "backfill_json", str(export), "-v", "0")
        print(f"backfill_json: {time.perf_counter() - started:.1f} s", flush=True)
        run(args)
    finally:
        if not args.sqlite:
            from django.db import connections

            connections.close_all()
            drop_database(args.postgres, url)


def run(args):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from catalog.models import ModelStatus

    client = Client()
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "pw")
    client.force_login(user)
    statuses = ModelStatus.objects.count()
    print(
        f"{connection.vendor}, {statuses:,} statuses; median of {args.repeat} requests (ms); "
        "cold = the first read after a one-row write"
    )
    print(f"{'request':<62} {'cold':>8} {'warm':>8}")
    for url in API:
        cold, warm = [], []
        for _ in range(args.repeat):
            touch_catalog()
            cold.append(timed(client, url))
            warm.append(timed(client, url))
        print(f"{url:<62} {statistics.median(cold):>8.1f} {statistics.median(warm):>8.1f}")
    for url in ADMIN:
        times = [timed(client, url) for _ in range(args.repeat)]
        print(f"{url:<62} {statistics.median(times):>8.1f} {'(admin)':>8}")
    print(f"(measured {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
