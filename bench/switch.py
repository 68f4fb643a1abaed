"""How long a switch (and a rollback) takes to reach every gunicorn worker.

    .venv/bin/python bench/switch.py                      # 2 workers, 10 switches
    .venv/bin/python bench/switch.py --workers 4 --rounds 20

A fresh PostgreSQL database is loaded with the sample export; gunicorn serves it on 127.0.0.1.
Each round changes the state row (as switch_backend does) and polls the API until 50 answers in a
row come from the new store; the time from the commit to the first of them is the propagation.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import create_database, drop_database, manage  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()

    url = create_database(args.postgres, "bench_switch")
    os.environ.update(
        DATABASE_URL=url,
        DEBUG="true",
        ENV_FILE="/nonexistent/.env",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    import django

    django.setup()
    from live import runtime
    from tests.servers import Server

    server = None
    try:
        manage(url, "migrate", "-v", "0")
        manage(url, "backfill_json", "-v", "0", ok=(0, 1))  # the sample has 2 rejects
        server = Server({"DATABASE_URL": url}, workers=args.workers)
        results = {"database": [], "json": []}
        for round_number in range(args.rounds):
            target = "database" if round_number % 2 == 0 else "json"
            runtime.state_change(
                action=f"bench switch to {target}",
                reason="bench/switch.py",
                actor="bench",
                active=target,
            )
            committed = time.monotonic()
            streak, first = 0, None
            while streak < 50:
                _, body = server.get("/api/v1/status")
                if body["dataSource"] == target:
                    if streak == 0:
                        first = time.monotonic()
                    streak += 1
                else:
                    streak = 0
            results[target].append(first - committed)
            time.sleep(0.3)
        print(f"gunicorn, {args.workers} workers, BACKEND_STATE_TTL 1 s, {args.rounds} rounds")
        for target, seconds in results.items():
            label = "switch to database" if target == "database" else "rollback to json"
            print(
                f"{label:<20} propagation: min {min(seconds):.2f} s, "
                f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s"
            )
        print(f"(measured {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")
    finally:
        if server is not None:
            server.stop()
        from django.db import connections

        connections.close_all()
        drop_database(args.postgres, url)


if __name__ == "__main__":
    main()
