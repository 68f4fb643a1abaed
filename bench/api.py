"""The read API under load, from both stores in one run: gunicorn (2 workers) on 127.0.0.1, wrk.

    .venv/bin/python bench/api.py                          # the sample, then 10,000 models x 5
    .venv/bin/python bench/api.py --sizes sample --duration 3 --rounds 1

For each size a fresh PostgreSQL database (``api_bench_*``) is loaded from the export with
backfill_json, and one gunicorn serves both stores: the JSON store reads the same export. Reads
come from JSON, and a canary header sends wrk's requests to the database when it carries it
(``switch_backend canary enable --percent 0``). Each endpoint is measured from each store, rounds
alternating between the stores, and the median round is shown: requests/s, p50/p95/p99 in ms, errors
(connection errors, timeouts and non-2xx answers) and the database/JSON ratio of p95. The database
is measured with its response cache (the default) and, with ``--uncached``, also without it
(CATALOG_CACHE_SECONDS=0, a second gunicorn), which is the first read after every write.

wrk comes from Debian: ``apt-get install -y wrk``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import create_database, drop_database, manage  # noqa: E402

# wrk prints these from its own latency histogram (microseconds) once the run is done.
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("REPORT requests=%d seconds=%f p50=%d p95=%d p99=%d errors=%d\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""
SIZES = {
    "sample": None,  # data/sample: 39 models, 58 statuses
    "10000x5": {"models": 10_000, "statuses": 50_000},
}


def endpoints(size: str) -> list[tuple[str, str]]:
    if size == "sample":
        slug, q, provider = "anthropic-claude-3-opus", "claude", "openai"
    else:
        slug, q, provider = "provider0001-model-1-v1.1", "model-12", "provider0001"
    return [
        ("models?limit=50", "/api/v1/models?limit=50"),
        ("models?limit=500", "/api/v1/models?limit=500"),
        ("models?q=", f"/api/v1/models?q={q}"),
        ("models?provider=&status=", f"/api/v1/models?provider={provider}&status=operational"),
        ("models/<slug>", f"/api/v1/models/{slug}"),
        ("providers", "/api/v1/providers"),
        ("status", "/api/v1/status"),
    ]


CANARY = ("X-Bench-Store", "database")


def wrk(url: str, store: str, *, duration: float, connections: int, threads: int, script: Path):
    header = ["-H", f"{CANARY[0]}: {CANARY[1]}"] if store == "database" else []
    result = subprocess.run(
        [
            "wrk",
            *header,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration:g}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(
        r"REPORT requests=(\d+) seconds=([\d.]+) p50=(\d+) p95=(\d+) p99=(\d+) errors=(\d+)",
        result.stdout,
    )
    if match is None:
        raise SystemExit(f"wrk printed no report:\n{result.stdout}\n{result.stderr}")
    requests, seconds, p50, p95, p99, errors = match.groups()
    return {
        "rps": int(requests) / float(seconds),
        "p50": int(p50) / 1000,
        "p95": int(p95) / 1000,
        "p99": int(p99) / 1000,
        "errors": int(errors),
    }


def measure_size(size: str, args, workdir: Path, script: Path) -> list[str]:
    from tests.servers import Server

    if SIZES[size] is None:
        export = ROOT / "data" / "sample"
    else:
        from bench.synthetic import write_export

        export = workdir / f"api-{size}"
        if not (export / "model-status.json").exists():
            write_export(export, **SIZES[size])
    url = create_database(args.postgres, "api_bench")
    servers = {}
    try:
        manage(url, "migrate", "-v", "0")
        manage(url, "backfill_json", str(export), "-v", "0", ok=(0, 1))  # the sample's rejects
        manage(
            url,
            "switch_backend",
            "canary",
            "enable",
            "--header",
            CANARY[0],
            "--value",
            CANARY[1],
            "--percent",
            "0",
            "--reason",
            "bench/api.py",
        )
        env = {"DATABASE_URL": url, "JSON_EXPORT_DIR": str(export), "DATA_BACKEND": "json"}
        servers["cached"] = Server(env, workers=args.workers)
        if args.uncached:
            servers["uncached"] = Server(env | {"CATALOG_CACHE_SECONDS": "0"}, workers=args.workers)
        stores = [("database", "cached"), ("json", "cached")]
        if args.uncached:
            stores.insert(1, ("database", "uncached"))
        rows = {}
        for name, path in endpoints(size):
            rounds = {store: [] for store in stores}
            for _ in range(args.rounds):
                for store, server_name in stores:
                    server = servers[server_name]
                    headers = dict([CANARY]) if store == "database" else {}
                    for _ in range(3):  # warm: the JSON snapshot, the response cache
                        _, body = server.get(path, **headers)
                        assert body["dataSource"] == store, body
                    rounds[(store, server_name)].append(
                        wrk(
                            server.url + path,
                            store,
                            duration=args.duration,
                            connections=args.connections,
                            threads=args.threads,
                            script=script,
                        )
                    )
            rows[name] = {
                key: sorted(results, key=lambda r: r["p95"])[len(results) // 2]
                for key, results in rounds.items()
            }
        return report(size, rows, stores, args)
    finally:
        for server in servers.values():
            server.stop()
        drop_database(args.postgres, url)


def report(size: str, rows: dict, stores: list, args) -> list[str]:
    labels = {
        ("database", "cached"): "database",
        ("database", "uncached"): "db, no cache",
        ("json", "cached"): "json",
    }
    lines = [
        f"{size}: gunicorn {args.workers} workers, wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration:g}s, median of {args.rounds} round(s) by p95",
        f"{'endpoint':<26} {'store':<13} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'errors':>7} {'p95 db/json':>12}",
    ]
    for name, results in rows.items():
        json_p95 = results[("json", "cached")]["p95"]
        for key in stores:
            r = results[key]
            ratio = f"{r['p95'] / json_p95:.2f}" if key[0] == "database" and json_p95 else ""
            lines.append(
                f"{name:<26} {labels[key]:<13} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p95']:>8.1f} "
                f"{r['p99']:>8.1f} {r['errors']:>7} {ratio:>12}"
            )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="sample,10000x5", help="comma-separated: sample, 10000x5"
    )
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--uncached", action="store_true", help="also the database without cache")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "bench13"))
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian's package)")
    sizes = args.sizes.split(",")
    unknown = set(sizes) - set(SIZES)
    if unknown:
        raise SystemExit(f"unknown size(s) {sorted(unknown)}: use {', '.join(SIZES)}")

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # tests.servers reads the settings (the database vendor) when imported.
    os.environ.update(
        DEBUG="true", ENV_FILE="/nonexistent/.env", DJANGO_SETTINGS_MODULE="config.settings"
    )
    script = workdir / "wrk-report.lua"
    script.write_text(WRK_REPORT)
    for size in sizes:
        print("\n".join(measure_size(size, args, workdir, script)), flush=True)
        print()
    print(f"(measured {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
