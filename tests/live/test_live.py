"""The backend switch with real processes: gunicorn with two workers on 127.0.0.1, switches and
rollbacks under load, and a database that really goes away (PostgreSQL behind a TCP proxy that
is cut; SQLite in a directory moved aside) while dual-write keeps every write."""

import json
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import IS_POSTGRES, manage
from tests.servers import Proxy, Server

STATUS = {"status": "degraded", "availability": 97.5, "checkedAt": "2026-11-22T01:00:00.000Z"}
TOKEN = {"Authorization": "Bearer live-token"}

pytestmark = pytest.mark.live


class Catalog:
    """A database loaded from the export and validated, and how the app reaches it."""

    def __init__(self, export: Path, tmp_path: Path, scratch_database):
        self.export = export
        self.journal = tmp_path / "journal"
        if IS_POSTGRES:
            self.direct_url = scratch_database()
            host_port = self.direct_url.rsplit("@", 1)[-1].split("/", 1)[0]
            host, _, port = host_port.partition(":")
            self.proxy = Proxy((host or "127.0.0.1", int(port or 5432)))
            self.app_url = self.direct_url.replace(host_port, f"127.0.0.1:{self.proxy.port}")
        else:
            self.directory = tmp_path / "db"
            self.directory.mkdir()
            self.direct_url = self.app_url = f"sqlite:///{self.directory / 'catalog.sqlite3'}"
        assert manage("migrate", "-v", "0", database_url=self.direct_url).returncode == 0
        assert manage("backfill_json", str(export), database_url=self.direct_url).returncode == 1
        assert self.operator("validate_migration", str(export)).returncode == 0

    def operator(self, *args):
        return manage(
            *args,
            database_url=self.direct_url,
            env={"JSON_EXPORT_DIR": str(self.export), "WRITE_JOURNAL_DIR": str(self.journal)},
        )

    def server(self, log_path: Path, **env) -> Server:
        return Server(
            {
                "DATABASE_URL": self.app_url,
                "JSON_EXPORT_DIR": str(self.export),
                "WRITE_JOURNAL_DIR": str(self.journal),
                "CONN_MAX_AGE": "0" if not IS_POSTGRES else "60",
            }
            | env,
            log=open(log_path, "w"),  # closed with the process
        )

    def sql(self, statement: str):
        """Run one statement on the catalog's database, from outside the server."""
        if IS_POSTGRES:
            import psycopg

            with psycopg.connect(self.direct_url, autocommit=True) as conn:
                cursor = conn.execute(statement)
                return cursor.fetchall() if cursor.description else None
        import sqlite3

        with sqlite3.connect(self.direct_url.removeprefix("sqlite:///"), timeout=10) as conn:
            return conn.execute(statement).fetchall()

    def cut(self):
        if IS_POSTGRES:
            self.proxy.cut()
        else:
            os.rename(self.directory, f"{self.directory}.away")

    def restore(self):
        if IS_POSTGRES:
            self.proxy.restore()
        else:
            os.rename(f"{self.directory}.away", self.directory)


@pytest.fixture
def catalog(sample_export, tmp_path, scratch_database):
    return Catalog(sample_export, tmp_path, scratch_database)


@pytest.fixture
def server(catalog, tmp_path):
    live = catalog.server(tmp_path / "gunicorn.log")
    yield live
    live.stop()


def sources_after(server, since: float, *, want: str, needed: int = 40, timeout: float = 10):
    """Poll until ``needed`` reads in a row answer from ``want``; seconds from ``since`` to the
    first of them."""
    streak, first = 0, None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = server.get("/api/v1/status")
        assert status == 200, body
        if body["dataSource"] == want:
            if streak == 0:
                first = time.monotonic()
            streak += 1
            if streak >= needed:
                return first - since
        else:
            streak = 0
    raise AssertionError(f"reads did not all come from {want} within {timeout} s")


def workers_see_dual_write(server, *, needed: int = 30, timeout: float = 10):
    """Poll until ``needed`` answers in a row come from workers that know dual-write is on."""
    streak, deadline = 0, time.monotonic() + timeout
    while streak < needed:
        assert time.monotonic() < deadline, "the workers did not pick up dual-write"
        streak = streak + 1 if server.get("/api/v1/dual-write/stats")[1]["dualWrite"] else 0


def test_switch_and_rollback__reach_both_workers_within_two_seconds(catalog, server):
    assert server.get("/api/v1/status")[1]["dataSource"] == "json"
    result = catalog.operator("switch_backend", "switch", "database", "--reason", "live test")
    assert result.returncode == 0, result.stderr
    propagation = sources_after(server, time.monotonic(), want="database")
    assert propagation <= 2.0
    result = catalog.operator("switch_backend", "rollback", "--reason", "live test")
    assert result.returncode == 0, result.stderr
    propagation = sources_after(server, time.monotonic(), want="json")
    assert propagation <= 2.0


def test_switch_and_rollback_under_load__no_request_fails_and_no_write_is_lost(catalog, server):
    assert (
        catalog.operator("switch_backend", "dual-write", "on", "--reason", "move").returncode == 0
    )
    workers_see_dual_write(server)
    failures, counts, stop = [], {"reads": 0, "writes": 0}, threading.Event()

    def reader():
        while not stop.is_set():
            for path in ("/api/v1/models?limit=5", "/api/v1/status", "/api/v1/providers"):
                status, body = server.get(path)
                counts["reads"] += 1
                if status != 200:
                    failures.append((path, status, body))

    def writer(worker):
        i = 0
        while not stop.is_set():
            record = STATUS | {"region": f"live-{worker}-{i}"}
            status, body = server.request(
                "/api/v1/models/openai-o3/status", method="PUT", body=record, headers=TOKEN
            )
            counts["writes"] += 1
            if status != 200:
                failures.append(("PUT", status, body))
            i += 1

    threads = [threading.Thread(target=reader) for _ in range(3)]
    threads += [threading.Thread(target=writer, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    switched = catalog.operator(
        "switch_backend", "switch", "database", "--force", "--reason", "under load"
    )
    time.sleep(3)
    rolled = catalog.operator("switch_backend", "rollback", "--reason", "under load")
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert switched.returncode == 0 and rolled.returncode == 0
    assert failures == []
    assert counts["reads"] > 50 and counts["writes"] > 10
    # Every write reaches both stores: once the queues drain, the export equals the database.
    deadline = time.monotonic() + 20
    while server.get("/api/v1/dual-write/stats")[1]["pending"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.get("/api/v1/dual-write/stats")[1]["pending"] == 0
    result = catalog.operator("validate_migration", str(catalog.export))
    assert result.returncode == 0, result.stdout[-3000:]
    written = json.loads((catalog.export / "model-status.json").read_text())
    regions = {s.get("region") for s in written["statuses"]["openai-o3"]}
    assert len([r for r in regions if str(r).startswith("live-")]) == counts["writes"]


def test_database_down__reads_fall_back_writes_are_journalled_and_replayed(catalog, server):
    assert (
        catalog.operator("switch_backend", "dual-write", "on", "--reason", "move").returncode == 0
    )
    assert (
        catalog.operator(
            "switch_backend", "canary", "enable", "--percent", "0", "--reason", "header-only canary"
        ).returncode
        == 0
    )
    time.sleep(1.1)
    workers_see_dual_write(server)  # and so the canary, changed before
    catalog.cut()
    try:
        # Reads: the JSON store answers; the canary (database) reads fall back, saying why.
        status, body = server.get("/api/v1/models?limit=3")
        assert status == 200 and body["dataSource"] == "json"
        status, body = server.get("/api/v1/status", **{"X-Canary": "canary=true"})
        assert status == 200
        assert body["dataSource"] == "json"
        assert body["fallbackReason"].startswith("database unavailable")
        # Writes: accepted (the primary is JSON) and journalled for the database.
        for i in range(5):
            status, body = server.request(
                "/api/v1/models/openai-o3/status",
                method="PUT",
                body=STATUS | {"region": f"outage-{i}"},
                headers=TOKEN,
            )
            assert status == 200, body
        journal = catalog.journal / "database.jsonl"
        time.sleep(1.0)  # the drainer tries, and fails, meanwhile
        assert len(journal.read_text().splitlines()) == 5
    finally:
        catalog.restore()
    deadline = time.monotonic() + 20
    while journal.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert journal.read_text().strip() == "", "the journal was replayed once the database returned"
    result = catalog.operator("validate_migration", str(catalog.export))
    assert result.returncode == 0, result.stdout[-3000:]
    status, body = server.get("/api/v1/status", **{"X-Canary": "canary=true"})
    assert body["dataSource"] == "database" and body["fallbackReason"] is None


def test_override__wins_over_the_state_row_in_both_workers_and_is_audited_once(catalog, tmp_path):
    assert (
        catalog.operator("switch_backend", "switch", "database", "--reason", "go").returncode == 0
    )
    live = catalog.server(tmp_path / "override.log", DATA_BACKEND_OVERRIDE="postgres")
    try:
        assert sources_after(live, time.monotonic(), want="database", needed=20) < 5
    finally:
        live.stop()
    live = catalog.server(tmp_path / "override-json.log", DATA_BACKEND_OVERRIDE="github")
    try:
        sources_after(live, time.monotonic(), want="json", needed=40)
        status, body = live.get("/api/v1/status")
        assert body["backendOverride"] == "json"
    finally:
        live.stop()
    status = catalog.operator("switch_backend", "status")
    assert "DATA_BACKEND_OVERRIDE=json in the serving workers" in status.stdout
    assert "state row: database" in status.stdout  # the row is unchanged: the env won
    audit = catalog.sql(
        "SELECT action FROM migrator_auditentry WHERE actor = 'environment' ORDER BY id"
    )
    assert [row[0] for row in audit] == ["override database", "override json"]


def test_guard__two_workers_share_the_counts_one_rollback_one_audit_entry(catalog, server):
    assert (
        catalog.operator(
            "switch_backend", "switch", "database", "--reason", "go", "--auto-rollback"
        ).returncode
        == 0
    )
    assert (
        catalog.operator(
            "switch_backend", "auto-rollback", "--min-requests", "30", "--reason", "live"
        ).returncode
        == 0
    )
    sources_after(server, time.monotonic(), want="database", needed=20)
    # A store that fails as a whole: its catalog tables gone, the version row the response
    # cache keys answers by included (else the cache answers what it answered before).
    catalog.sql("ALTER TABLE catalog_modelstatus RENAME TO catalog_modelstatus_away")
    catalog.sql("ALTER TABLE catalog_catalogversion RENAME TO catalog_catalogversion_away")
    try:
        answers = []

        def reader():
            for _ in range(12):
                answers.append(server.get("/api/v1/status"))

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert all(status == 200 for status, _ in answers), answers[:2]
        assert answers[0][1]["fallbackReason"] == "database unavailable"
        deadline = time.monotonic() + 10
        while catalog.sql("SELECT active FROM migrator_backendstate")[0][0] != "json":
            assert time.monotonic() < deadline, "no automatic rollback"
            time.sleep(0.2)
    finally:
        catalog.sql("ALTER TABLE catalog_modelstatus_away RENAME TO catalog_modelstatus")
        catalog.sql("ALTER TABLE catalog_catalogversion_away RENAME TO catalog_catalogversion")
    time.sleep(2.5)  # every worker flushes and judges again: still one entry
    entries = catalog.sql("SELECT reason FROM migrator_auditentry WHERE action = 'auto-rollback'")
    assert len(entries) == 1 and "all workers" in entries[0][0]
    workers = catalog.sql(
        "SELECT worker, SUM(requests) FROM migrator_trafficbucket "
        "WHERE store = 'database' AND errors > 0 GROUP BY worker"
    )
    assert len(workers) == 2, workers  # both workers' failures were judged together


def test_maintenance__both_workers_refuse_writes_and_keep_reading(catalog, server):
    assert (
        catalog.operator(
            "switch_backend", "maintenance", "on", "--reason", "schema change"
        ).returncode
        == 0
    )
    time.sleep(1.2)
    for _ in range(10):
        status, body = server.request(
            "/api/v1/models/openai-o3/status", method="PUT", body=STATUS, headers=TOKEN
        )
        assert status == 503 and body["error"] == "maintenance" and body["retryAfter"] == 60
        assert server.get("/api/v1/models?limit=2")[0] == 200
    request = urllib.request.Request(  # noqa: S310 (our own server)
        server.url + "/api/v1/models/openai-o3/status",
        data=json.dumps(STATUS).encode(),
        method="PUT",
        headers=TOKEN | {"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert refused.value.headers["Retry-After"] == "60"
    assert (
        catalog.operator("switch_backend", "maintenance", "off", "--reason", "done").returncode == 0
    )
    time.sleep(1.2)
    for _ in range(6):
        status, _ = server.request(
            "/api/v1/models/openai-o3/status", method="PUT", body=STATUS, headers=TOKEN
        )
        assert status == 200


def test_public_answers__name_no_host_port_database_user_or_path(catalog, tmp_path):
    if IS_POSTGRES:
        misnamed = catalog.app_url.rsplit("/", 1)[0] + "/no_such_catalog_db"
        secrets = ["127.0.0.1", str(catalog.proxy.port), "no_such_catalog_db", "postgres"]
    else:
        misnamed = f"sqlite:///{tmp_path / 'gone' / 'no_such_catalog.sqlite3'}"
        secrets = ["no_such_catalog", str(tmp_path)]
    secrets.append(str(catalog.export))
    live = catalog.server(
        tmp_path / "misnamed.log",
        DATABASE_URL=misnamed,
        DATA_BACKEND="database",
        JSON_EXPORT_DIR=str(tmp_path / "no-export-here"),
    )
    try:
        bodies = []
        for path in (
            "/api/v1/status",
            "/api/v1/models?limit=2",
            "/api/v1/models/openai-o3",
            "/api/v1/providers",
            "/api/v1/dual-write/stats",
            "/healthz?format=json",
            "/api/v1/nowhere",
        ):
            bodies.append(raw(live, path))
        bodies.append(
            raw(live, "/api/v1/models/openai-o3/status", method="PUT", data=STATUS, headers=TOKEN)
        )
    finally:
        live.stop()
    assert json.loads(bodies[0][1])["detail"] == {
        "database": "database unavailable",
        "json": "json unavailable",
    }
    for status, body in bodies:
        for secret in secrets:
            assert secret not in body, (status, secret, body[:500])


def raw(server, path, *, method="GET", data=None, headers=None):
    request = urllib.request.Request(  # noqa: S310 (our own server)
        server.url + path,
        data=None if data is None else json.dumps(data).encode(),
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
