"""Real faults: a backfill killed with SIGKILL mid-load; exports served over HTTP on loopback."""

import contextlib
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from bench.synthetic import write_export
from tests.conftest import ROOT, command, count_rows, manage

DUMP = """
import hashlib, json
from django.core.serializers.json import DjangoJSONEncoder
from tests.snapshots import catalog_snapshot
snapshot = catalog_snapshot()
canonical = json.dumps({k: sorted(map(str, v.items())) for k, v in snapshot.items()},
                       cls=DjangoJSONEncoder)
print(json.dumps({"counts": {k: len(v) for k, v in snapshot.items()},
                  "sha256": hashlib.sha256(canonical.encode()).hexdigest()}))
"""


def dump(database_url):
    result = manage("shell", "-c", DUMP, database_url=database_url)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _start_backfill(export, database_url) -> subprocess.Popen:
    env = {
        "ENV_FILE": "/nonexistent/.env",
        "DATABASE_URL": database_url,
        "DEBUG": "true",
        "PYTHONPATH": str(ROOT),
        "PATH": os.environ["PATH"],
    }
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "backfill_json",
            str(export),
            "--batch-size",
            "2000",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_when(process, export, ready) -> None:
    """SIGKILL ``process`` once ``ready()`` says so (at most 120 s on), and its reading child
    with it."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(Exception):  # a table locked or not yet there: look again
            if ready():
                break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not _survivors(str(export), wait=3.0), "the reading child dies with its parent"


def _statuses_being_written(database_url) -> bool:
    """Whether a first load of statuses is under way (PostgreSQL: its lock on the table is
    held; SQLite: the models are loaded, and a moment has passed)."""
    if database_url.startswith("sqlite:///"):
        started = count_rows(database_url, "catalog_model") == 3000
    else:
        import psycopg

        with psycopg.connect(database_url) as conn:
            started = (
                conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE "
                    "relation = 'catalog_modelstatus'::regclass "
                    "AND mode = 'AccessExclusiveLock' AND granted"
                ).fetchone()[0]
                > 0
            )
    if started:
        time.sleep(1.0)  # some batches in
    return started


@pytest.mark.live
def test_killed_first_load__keeps_no_status_and_a_rerun_reaches_the_clean_state(
    tmp_path, scratch_database
):
    """Statuses into an empty table load in one transaction (indexes dropped and built again
    inside it): killed in the middle, none of them is kept, nor is anything of the drop."""
    export = tmp_path / "export"
    written = write_export(export, statuses=150_000, models=3000, providers=40)
    killed_db, clean_db = scratch_database(), scratch_database()
    for url in (killed_db, clean_db):
        assert manage("migrate", "-v", "0", database_url=url).returncode == 0
    process = _start_backfill(export, killed_db)
    _kill_when(process, export, lambda: _statuses_being_written(killed_db))
    assert count_rows(killed_db, "catalog_model") == 3000
    assert count_rows(killed_db, "catalog_modelstatus") == 0

    rerun = manage("backfill_json", str(export), database_url=killed_db)
    clean = manage("backfill_json", str(export), database_url=clean_db)
    assert rerun.returncode == 0, rerun.stderr
    assert clean.returncode == 0, clean.stderr
    assert dump(killed_db) == dump(clean_db)
    assert dump(clean_db)["counts"]["statuses"] == written["statuses"]
    # Its indexes are all there: a second model in one region is refused by the unique one.
    assert manage("shell", "-c", DUPLICATE_STATUS, database_url=killed_db).returncode != 0


DUPLICATE_STATUS = """
from catalog.models import ModelStatus
status = ModelStatus.objects.order_by("id").first()
status.pk = None
status.save()
"""


@pytest.mark.live
def test_killed_run__rerun_reaches_exactly_the_clean_state(tmp_path, scratch_database):
    """Into a statuses table that holds rows, batches commit one by one: a kill keeps the
    committed ones, and the re-run completes the load."""
    export = tmp_path / "export"
    written = write_export(export, statuses=150_000, models=3000, providers=40)
    seed = tmp_path / "seed"
    seed.mkdir()
    statuses = json.loads((export / "model-status.json").read_text())
    # A third of the models' statuses: enough rows for the planner's statistics to be real.
    statuses["statuses"] = dict(list(statuses["statuses"].items())[:1000])
    (seed / "model-status.json").write_text(json.dumps(statuses))
    for name in ("providers.json", "models.json"):
        (seed / name).write_bytes((export / name).read_bytes())
    killed_db, clean_db = scratch_database(), scratch_database()
    for url in (killed_db, clean_db):
        assert manage("migrate", "-v", "0", database_url=url).returncode == 0
        assert manage("backfill_json", str(seed), database_url=url).returncode == 0
    seeded = count_rows(killed_db, "catalog_modelstatus")

    process = _start_backfill(export, killed_db)
    _kill_when(
        process, export, lambda: count_rows(killed_db, "catalog_modelstatus") >= seeded + 20_000
    )
    at_kill = count_rows(killed_db, "catalog_modelstatus")
    assert seeded < at_kill < written["statuses"], "the kill must land in the middle of the load"

    rerun = manage("backfill_json", str(export), database_url=killed_db)
    clean = manage("backfill_json", str(export), database_url=clean_db)
    assert rerun.returncode == 0, rerun.stderr
    assert clean.returncode == 0, clean.stderr
    assert dump(killed_db) == dump(clean_db)
    assert dump(clean_db)["counts"] == {
        "providers": 40,
        "models": 3000,
        "statuses": written["statuses"],
    }
    # The re-run found the committed batches unchanged and loaded only the rest.
    assert "unchanged" in rerun.stdout


def _survivors(marker: str, wait: float) -> list[int]:
    """Processes (other than this one) whose command line mentions ``marker``, after up to
    ``wait`` seconds for them to go."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


class ExportHandler(http.server.SimpleHTTPRequestHandler):
    failing: set = set()

    def do_GET(self):
        if self.path.lstrip("/") in self.failing:
            self.send_error(500, "Internal Server Error")
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def export_server(sample_export):
    handler = lambda *a, **k: ExportHandler(*a, directory=str(sample_export), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    ExportHandler.failing = set()
    server.shutdown()


@pytest.mark.django_db
def test_url_source__loads_like_the_directory(export_server, sample_export):
    from migrator.models import BackfillRun
    from tests.snapshots import catalog_snapshot

    code, _, err = command("backfill_json", export_server + "/")
    assert code == 1, err
    from_url = catalog_snapshot()
    sources = BackfillRun.objects.get().sources
    assert [s["location"] for s in sources] == [
        f"{export_server}/providers.json",
        f"{export_server}/models.json",
        f"{export_server}/model-status.json",
    ]
    assert all(s["sha256"] and s["size"] for s in sources)
    command("backfill_json", str(sample_export))
    assert catalog_snapshot() == from_url


@pytest.mark.django_db
def test_url_source__one_file(export_server):
    code, _, _ = command("backfill_json", f"{export_server}/providers.json")
    assert code == 0
    from catalog.models import Provider

    assert Provider.objects.count() == 9


@pytest.mark.django_db
def test_url_source__http_errors_are_clear(export_server):
    code, _, err = command("backfill_json", f"{export_server}/nothing-here/")
    assert code == 2 and "no export file there" in err
    ExportHandler.failing = {"models.json"}
    code, _, err = command("backfill_json", f"{export_server}/models.json")
    assert code == 2 and "HTTP 500" in err and "models.json" in err


@pytest.mark.django_db
def test_url_source__times_out_on_a_silent_host(settings):
    settings.JSON_EXPORT_TIMEOUT = 0.5
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        port = silent.getsockname()[1]
        started = time.monotonic()
        code, _, err = command("backfill_json", f"http://127.0.0.1:{port}/models.json")
        assert code == 2 and "timed out" in err
        assert time.monotonic() - started < 10
    finally:
        silent.close()


@pytest.mark.django_db
def test_interrupted_run__recorded_as_failed_with_what_stopped_it(sample_export):
    """Ctrl-C (KeyboardInterrupt) while the statuses are read: the run is recorded as failed,
    naming the interruption, and the first load's statuses are rolled back (not "succeeded")."""
    from catalog.models import ModelStatus
    from migrator.backfill import Backfill, Options
    from migrator.models import BackfillRun

    def interrupt(export_file, _done):
        if export_file.kind == "statuses":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Backfill(Options(sources=(str(sample_export),), batch_size=10), progress=interrupt).run()
    run = BackfillRun.objects.get()
    assert run.outcome == BackfillRun.Outcome.FAILED
    assert run.error == "KeyboardInterrupt"
    assert run.state_token is None
    assert ModelStatus.objects.count() == 0
