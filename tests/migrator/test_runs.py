"""A backfill killed without finishing is marked interrupted by the next run and by the admin."""

import datetime as dt
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from django.utils import timezone

from migrator.models import BackfillRun
from migrator.processes import current_host
from migrator.runs import backfill_runs_mark_interrupted
from tests.conftest import ROOT, command, manage

pytestmark = pytest.mark.django_db


def dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def running(**fields) -> BackfillRun:
    return BackfillRun.objects.create(**{"host": current_host(), **fields})


def test_run_of_a_gone_process__marked_interrupted_by_the_next_run(sample_export):
    stale = running(pid=dead_pid())
    code, _, err = command("backfill_json", str(sample_export))
    assert code == 1  # the sample's rejects
    assert f"backfill run #{stale.pk} was interrupted (its process is gone); marked so" in err
    stale.refresh_from_db()
    assert stale.outcome == "interrupted" and stale.finished_at is not None
    assert f"process {stale.pid} on {current_host()} is gone" in stale.error
    assert BackfillRun.objects.exclude(pk=stale.pk).get().outcome == "rejected"


def test_run_of_a_live_process__left_running():
    parent = running(pid=os.getppid())  # started before this test, still alive
    another_host = running(pid=dead_pid(), host="elsewhere.example")
    unknown = running(pid=None)
    assert backfill_runs_mark_interrupted() == []
    for run in (parent, another_host, unknown):
        run.refresh_from_db()
        assert run.outcome == "running"


def test_pid_reused_by_a_later_process__marked_interrupted():
    later = subprocess.Popen(["sleep", "30"])
    try:
        run = running(pid=later.pid)
        BackfillRun.objects.filter(pk=run.pk).update(
            started_at=timezone.now() - dt.timedelta(hours=1)
        )
        assert backfill_runs_mark_interrupted() == [run.pk]
    finally:
        later.kill()
        later.wait()


def test_admin_changelist__marks_and_says_so(admin_client_logged_in):
    stale = running(pid=dead_pid())
    response = admin_client_logged_in.get("/admin/migrator/backfillrun/")
    assert response.status_code == 200
    assert (
        f"Backfill run #{stale.pk} was interrupted (its process is gone)"
        in response.content.decode()
    )
    stale.refresh_from_db()
    assert stale.outcome == "interrupted"


def test_kill_9_during_a_run__the_next_run_marks_it_interrupted(scratch_database):
    url = scratch_database()
    assert manage("migrate", "--noinput", "-v", "0", database_url=url).returncode == 0
    # An export host that takes the connection and never answers: the run is under way when
    # it is killed.
    silent = socket.create_server(("127.0.0.1", 0))
    export = f"http://127.0.0.1:{silent.getsockname()[1]}/export"
    env = {
        "ENV_FILE": "/nonexistent/.env",
        "DATABASE_URL": url,
        "DEBUG": "true",
        "PYTHONPATH": str(ROOT),
        "PATH": os.environ["PATH"],
    }
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "backfill_json", export],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while outcomes(url) == [] and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    silent.close()
    assert outcomes(url) == [(process.pid, "running")]
    result = manage("backfill_json", str(ROOT / "data" / "sample"), database_url=url)
    assert result.returncode == 1, result.stderr
    assert "backfill run #1 was interrupted (its process is gone); marked so" in result.stderr
    assert outcomes(url)[0] == (process.pid, "interrupted")


def outcomes(url: str) -> list[tuple]:
    query = "SELECT pid, outcome FROM migrator_backfillrun ORDER BY id"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=5) as conn:
            return conn.execute(query).fetchall()
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()
