"""The JSON read backend's memory: a synthetic export loaded in a fresh process, as a worker does.

    .venv/bin/python bench/json_memory.py                      # 1,000,000 statuses
    .venv/bin/python bench/json_memory.py --statuses 100000

The export is written once by bench/synthetic.py (kept in ``--workdir``). A child process (a
fresh interpreter with Django set up, no database tables: the aliases are skipped as when the
database is down) loads it through JsonBackend and prints its RSS before the load, its RSS after
it (what a worker then holds), its peak RSS, the load time, and the time of the first answers
to a few endpoints (the first and the second request each).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENDPOINTS = [
    "/api/v1/status",
    "/api/v1/providers",
    "/api/v1/models?limit=50",
    "/api/v1/models?status=outage&limit=50",
    "/api/v1/models?q=model-123",
    "/api/v1/models/provider0001-model-1-v1.1",
]


def _rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def child(export: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        ENV_FILE="/nonexistent/.env",
        DEBUG="true",
        DATABASE_URL="sqlite:///:memory:",
        DATA_BACKEND="json",
        JSON_EXPORT_DIR=str(export),
    )
    import django

    django.setup()
    logging.disable(logging.WARNING)  # the aliases' table is absent here, on purpose
    from django.test import Client

    from catalog.backends import get_backend

    client = Client()
    gc.collect()
    before, _ = _rss_mb()
    started = time.perf_counter()
    get_backend("json").snapshot()
    load = time.perf_counter() - started
    gc.collect()
    after, peak = _rss_mb()
    timings = {}
    for url in ENDPOINTS:
        answers = []
        for _ in range(2):
            started = time.perf_counter()
            response = client.get(url, HTTP_HOST="localhost")
            answers.append((time.perf_counter() - started) * 1000)
        timings[url] = (*answers, response.status_code)
    print(
        json.dumps(
            {"before": before, "after": after, "peak": peak, "load": load, "timings": timings}
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statuses", type=int, default=1_000_000)
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "bench13"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child))
        return

    from bench.common import export_for

    export = export_for(Path(args.workdir), args.statuses)
    written = json.loads((export / "written.json").read_text())
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(export)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"the loading process failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"JSON backend, {written['statuses']:,} statuses, {written['models']:,} models, "
        f"{written['providers']} providers (one fresh process)"
    )
    print(f"load time              {figures['load']:>8.1f} s")
    print(f"RSS before the load    {figures['before']:>8.0f} MB")
    print(f"RSS after the load     {figures['after']:>8.0f} MB   (what a worker holds)")
    print(f"peak RSS               {figures['peak']:>8.0f} MB")
    print(f"answers after the load (ms, no cache)  {'':<17} {'first':>8} {'second':>8}")
    for url, (first, second, status) in figures["timings"].items():
        print(f"  {url:<53} {first:>8.1f} {second:>8.1f}  ({status})")
    print(f"(measured {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
