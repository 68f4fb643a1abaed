"""What the benchmarks share: fresh databases, measured subprocesses, cached exports, tables."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class Measurement:
    seconds: float
    peak_rss_mb: float
    stdout: str
    rows: int = 0
    detail: str = ""
    document: dict | None = None  # the command's --format json report, when it has one

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _env(database_url: str) -> dict:
    return {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "ENV_FILE": "/nonexistent/.env",
        "DATABASE_URL": database_url,
        "DEBUG": "true",
        "PYTHONPATH": str(ROOT),
    }


def run_measured(command: list[str], database_url: str) -> Measurement:
    """Run ``command``; its wall time and its own peak RSS (from wait4)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=_env(database_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # Read the pipes on the side so a chatty child cannot block on a full pipe.
    import threading

    out, err = [], []
    readers = [
        threading.Thread(target=lambda: out.append(process.stdout.read())),
        threading.Thread(target=lambda: err.append(process.stderr.read())),
    ]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    for reader in readers:
        reader.join()
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(command[:4])} failed ({code}):\n{err[0].decode()[-3000:]}")
    return Measurement(seconds=seconds, peak_rss_mb=usage.ru_maxrss / 1024, stdout=out[0].decode())


def run_command(database_url: str, command: str, export: Path, *extra: str):
    """``manage.py <command> <export> --format json``, measured: (Measurement, the statuses'
    figures from its JSON report). Peak RSS is the larger of the command's process and its
    reading child's."""
    measurement = run_measured(
        [sys.executable, str(ROOT / "manage.py"), command, str(export), "--format", "json", *extra],
        database_url,
    )
    document = json.loads(measurement.stdout)
    measurement.peak_rss_mb = max(measurement.peak_rss_mb, document["readerPeakRssMb"])
    return measurement, document


def manage(database_url: str, *args: str, ok=(0,)) -> None:
    """Run ``manage.py args``; exit statuses in ``ok`` are fine (backfill_json: 1 = rejects)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=_env(database_url)
    )
    if result.returncode not in ok:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({result.returncode})")


def _admin(admin_url: str):
    import psycopg

    return psycopg.connect(admin_url, autocommit=True)


def create_database(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with _admin(admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(admin_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with _admin(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def export_for(workdir: Path, statuses: int, **variant) -> Path:
    """The synthetic export of that size and variant, generated once and kept in ``workdir``."""
    from bench.synthetic import write_export

    label = "-".join(f"{k}{v}" for k, v in sorted(variant.items())) or "base"
    directory = Path(workdir) / f"{statuses}-{label}"
    marker = directory / "written.json"
    if not marker.exists():
        print(f"generating {directory.name} ...", flush=True)
        written = write_export(
            directory, statuses=statuses, models=max(1, statuses // 50), **variant
        )
        marker.write_text(json.dumps(written))
    return directory


def print_table(results: list[tuple[str, Measurement]]) -> None:
    width = max(len(name) for name, _ in results)
    print(f"{'scenario':<{width}}  {'rows':>10}  {'seconds':>8}  {'rows/s':>9}  {'peak RSS':>9}")
    for name, m in results:
        print(
            f"{name:<{width}}  {m.rows:>10,}  {m.seconds:>8.2f}  {m.rate:>9,.0f}  "
            f"{m.peak_rss_mb:>6.0f} MB  {m.detail}"
        )
