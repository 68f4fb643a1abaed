"""The response cache keyed by the catalog version: served from the cache when nothing changed,
never stale once a write has committed (through the real API, on SQLite and PostgreSQL)."""

import contextlib
import json
import socket
import tempfile
import uuid

import pytest
from django.core.cache import cache
from django.db import close_old_connections, connection, connections, transaction

from catalog import response_cache
from catalog.models import CatalogVersion, ModelStatus, Provider
from catalog.response_cache import catalog_version
from tests.conftest import SAMPLE_DIR, command, postgres_only
from tests.factories import make_model, make_provider, make_status

# Committed transactions: the cache is bypassed inside a transaction (a test's own).
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("reads_from_database"),
]
TOKEN = {"HTTP_AUTHORIZATION": "Bearer test-status-token"}


@pytest.fixture(autouse=True)
def _empty_cache(monkeypatch):
    cache.clear()
    monkeypatch.setattr(response_cache, "_local", {"version": None, "answers": {}, "bytes": 0})
    yield
    cache.clear()


@pytest.fixture
def catalog():
    openai = make_provider("openai", name="OpenAI")
    gpt = make_model(openai, "GPT-4o", slug="openai-gpt-4o")
    make_status(gpt, "global", status="operational", availability=99.0)
    make_status(gpt, "eu-west-1", status="operational", availability=98.0)
    return gpt


def read(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    body.pop("timestamp")
    return body


def put_status(client, slug, record):
    response = client.put(
        f"/api/v1/models/{slug}/status", record, content_type="application/json", **TOKEN
    )
    assert response.status_code == 200, response.content


ENDPOINTS = [
    "/api/v1/models",
    "/api/v1/models?status=outage",
    "/api/v1/models/openai-gpt-4o",
    "/api/v1/providers",
    "/api/v1/status",
]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_read__second_answer_comes_from_the_cache_and_is_the_same(client, catalog, url):
    first, second = read(client, url), read(client, url)
    assert (first.pop("cached"), second.pop("cached")) == (False, True)
    assert first == second


def test_write_then_read__returns_the_written_value(client, catalog):
    """A monitor's write through the API, then reads through the API: never the cached answer
    from before the write."""
    for url in ENDPOINTS:
        read(client, url), read(client, url)  # cached now
    put_status(client, "openai-gpt-4o", {"status": "outage", "availability": 12.5})

    model = read(client, "/api/v1/models/openai-gpt-4o")
    assert model["cached"] is False
    assert model["model"]["status"]["status"] == "outage"
    assert model["model"]["availability"] == 12.5
    listed = read(client, "/api/v1/models?status=outage")
    assert [m["slug"] for m in listed["models"]] == ["openai-gpt-4o"]
    assert read(client, "/api/v1/status")["outage"] == 1
    providers = read(client, "/api/v1/providers")["providers"]
    assert providers[0]["avgAvailability"] == round((12.5 + 98.0) / 2, 2)


def test_write_behind_the_apps_back__is_seen_at_once(client, catalog):
    """Raw SQL (a data migration, a hand edit): the triggers raise the version too."""
    assert read(client, "/api/v1/status")["operational"] == 1
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_modelstatus SET status = 'degraded'")
    body = read(client, "/api/v1/status")
    assert (body["cached"], body["operational"], body["degraded"]) == (False, 0, 1)


def test_backfill__is_seen_at_once(client):
    assert read(client, "/api/v1/status")["totalModels"] == 0
    command("backfill_json", str(SAMPLE_DIR))
    assert read(client, "/api/v1/status")["totalModels"] == 39


@pytest.mark.parametrize(
    "change",
    [
        lambda: Provider.objects.create(slug="new", name="New"),
        lambda: Provider.objects.filter(slug="openai").update(name="Open AI"),
        lambda: ModelStatus.objects.filter(region="eu-west-1").delete(),
        lambda: ModelStatus.objects.bulk_create(
            [ModelStatus(model_id=ModelStatus.objects.first().model_id, region="r2")]
        ),
    ],
    ids=["insert", "update", "delete", "bulk-insert"],
)
def test_catalog_version__rises_on_every_committed_change(catalog, change):
    before = catalog_version()
    change()
    assert catalog_version() > before


def test_catalog_version__a_rolled_back_change_leaves_it(catalog):
    before = catalog_version()
    with pytest.raises(RuntimeError), transaction.atomic():
        Provider.objects.create(slug="gone", name="Gone")
        raise RuntimeError
    assert catalog_version() == before


def test_catalog_version__never_goes_back_when_its_row_is_lost(catalog):
    """A flush or a restore may remove or rewind the row: the next change starts above any
    version given before (commit time in microseconds)."""
    before = catalog_version()
    CatalogVersion.objects.all().delete()
    assert catalog_version() == 0
    Provider.objects.create(slug="new", name="New")
    assert catalog_version() > before


@postgres_only
def test_catalog_version__raised_at_commit_not_before(catalog):
    """Another connection sees the new version exactly when it can see the new data."""
    import psycopg

    from tests.conftest import _postgres_params

    with psycopg.connect(**_postgres_params(connection.settings_dict["NAME"])) as other:

        def seen():
            return other.execute("SELECT version FROM catalog_catalogversion").fetchone()[0]

        before = seen()
        with transaction.atomic():
            Provider.objects.create(slug="new", name="New")
            Provider.objects.filter(slug="new").update(name="Newer")
            assert seen() == before
        assert seen() > before


def test_read_in_a_transaction__bypasses_the_cache(client, catalog):
    with transaction.atomic():
        assert read(client, "/api/v1/status")["cached"] is False
        assert read(client, "/api/v1/status")["cached"] is False


def test_cache_seconds_zero__turns_it_off(client, catalog, settings):
    settings.CATALOG_CACHE_SECONDS = 0
    assert [read(client, "/api/v1/status")["cached"] for _ in range(2)] == [False, False]


def test_cached_answers__equal_the_json_backends(client, settings):
    """Byte-identical bodies from both stores hold for answers served from the cache too."""
    from live import runtime
    from tests.live.test_json_backend import QUERIES, body

    command("backfill_json", str(SAMPLE_DIR))
    for url in QUERIES:
        client.get(url)  # fills the cache
        status_db, _, from_db = body(client, url)
        settings.DATA_BACKEND = "json"
        runtime.forget_state()
        status_json, _, from_json = body(client, url)
        settings.DATA_BACKEND = "database"
        runtime.forget_state()
        assert status_db == status_json, url
        if status_db == 200:
            assert from_db.pop("cached") is True, url
            assert from_json.pop("cached") is False, url
        assert from_db == from_json, url


# --- Redis, the shared cache of production -------------------------------------------------------

REDIS = ("127.0.0.1", 6379)


def _redis_up() -> bool:
    try:
        socket.create_connection(REDIS, timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.fixture
def redis_cache(settings):
    if not _redis_up():
        pytest.skip("needs Redis on 127.0.0.1:6379 (apt-get install redis-server)")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://{REDIS[0]}:{REDIS[1]}/0",
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    yield
    cache.clear()


def test_redis__answers_are_shared_and_never_stale(client, catalog, redis_cache):
    from django.core.cache import caches

    assert read(client, "/api/v1/models/openai-gpt-4o")["cached"] is False
    keys = caches["default"]._cache.get_client().keys(f"{caches['default'].key_prefix}*")
    assert len(keys) == 1  # the answer is in Redis, not in this process
    assert read(client, "/api/v1/models/openai-gpt-4o")["cached"] is True
    put_status(client, "openai-gpt-4o", {"status": "degraded", "availability": 90.0})
    model = read(client, "/api/v1/models/openai-gpt-4o")
    assert (model["cached"], model["model"]["status"]["status"]) == (False, "degraded")


def test_cache_down__the_database_still_answers(client, catalog, settings, caplog, monkeypatch):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
        }
    }
    monkeypatch.setattr(response_cache, "LOCAL_ANSWERS_MAX", 0)  # the shared cache only
    first, second = read(client, "/api/v1/status"), read(client, "/api/v1/status")
    assert (first["cached"], second["cached"]) == (False, False)
    assert first["totalModels"] == 1
    assert "event=response_cache_unavailable" in caplog.text


def test_shared_cache__fills_this_processs_answers(client, catalog, redis_cache):
    """A worker's first read of an answer another worker computed: from the shared cache."""
    assert read(client, "/api/v1/status")["cached"] is False
    response_cache._local = {"version": None, "answers": {}, "bytes": 0}  # another worker
    assert read(client, "/api/v1/status")["cached"] is True


# --- real processes ---------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["local-memory", "redis"])
def test_two_workers__every_worker_reads_a_write_back_at_once(
    scratch_database, sample_export, shared
):
    """gunicorn with two workers, each with answers cached: after a monitor's write is
    acknowledged, every read from either worker returns it."""
    from tests.conftest import manage
    from tests.servers import Server

    if shared and not _redis_up():
        pytest.skip("needs Redis on 127.0.0.1:6379 (apt-get install redis-server)")
    url = scratch_database()
    assert manage("migrate", "-v", "0", database_url=url).returncode == 0
    assert manage("backfill_json", str(sample_export), database_url=url).returncode == 1
    env = {"DATABASE_URL": url, "JSON_EXPORT_DIR": str(sample_export), "DATA_BACKEND": "database"}
    if shared:
        env["CACHE_URL"] = f"redis://127.0.0.1:6379/0?key_prefix=test-{uuid.uuid4().hex}"
    server = Server(env, workers=2)
    try:
        path = "/api/v1/models/openai-o3"
        before = [server.get(path)[1] for _ in range(20)]
        assert {b["model"]["status"]["status"] for b in before} == {"operational"}
        assert any(b["cached"] for b in before)
        status, _ = server.request(
            f"{path}/status",
            method="PUT",
            body={"status": "outage", "availability": 1.5},
            headers={"Authorization": "Bearer live-token"},
        )
        assert status == 200
        after = [server.get(path)[1] for _ in range(20)]
        assert {(a["model"]["status"]["status"], a["model"]["availability"]) for a in after} == {
            ("outage", 1.5)
        }
    finally:
        server.stop()


# --- what a cached read costs: one statement, the bytes as they were sent ----------------------


@contextlib.contextmanager
def sent_statements():
    """The statements the database connection sends while the block runs, as the database
    client library reports them (libpq's protocol trace on PostgreSQL, sqlite3's trace callback
    on SQLite): a list, filled when the block ends."""
    connection.ensure_connection()
    raw, seen = connection.connection, []
    if connection.vendor == "postgresql":
        from psycopg import pq

        with tempfile.TemporaryFile() as trace:
            raw.pgconn.trace(trace.fileno())
            raw.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            try:
                yield seen
            finally:
                raw.pgconn.untrace()
            trace.seek(0)
            for line in trace.read().decode().splitlines():
                direction, _, kind, *rest = line.split("\t")
                text = " ".join(rest).strip()
                if direction == "F" and kind == "Query":  # "<statement>"
                    seen.append(text[1:-1])
                elif direction == "F" and kind == "Parse":  # "<name>" "<statement>" <types>
                    seen.append(text.split(" ", 1)[1].rsplit(" ", 1)[0][1:-1])
    else:
        raw.set_trace_callback(seen.append)
        try:
            yield seen
        finally:
            raw.set_trace_callback(None)


@pytest.mark.parametrize("url", ENDPOINTS)
def test_cached_read__sends_one_statement_the_versions(client, catalog, url):
    """A hit asks the database one thing, the catalog's version: not Django's health check's
    ``SELECT 1`` first (the version's query is the check), nor the data."""
    read(client, url), read(client, url)
    close_old_connections()  # what every request starts with (health check due again)
    with sent_statements() as seen:
        assert read(client, url)["cached"] is True
    # Less the traffic counters' write, in its own transaction (inline in tests; a thread of
    # its own, on its own connection, once a second in production).
    read_statements = [
        s
        for s in seen
        if "migrator_trafficbucket" not in s and s.split()[0] not in ("BEGIN", "COMMIT")
    ]
    assert read_statements == [response_cache._VERSION_SQL], seen


@postgres_only
def test_connection_dropped_by_the_server__the_next_read_still_comes_from_the_database(
    client, catalog
):
    """The version's query stands in for the health check: a kept connection that PostgreSQL
    closed meanwhile (an idle timeout, a restart) is replaced, the read is not a fallback."""
    assert read(client, "/api/v1/status")["dataSource"] == "database"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    close_old_connections()
    body = read(client, "/api/v1/status")
    assert (body["dataSource"], body["fallbackReason"], body["cached"]) == (
        "database",
        None,
        True,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid  # a new connection


def test_cached_answer__is_the_same_bytes_and_the_state_fields_stay_live(client, catalog, settings):
    """The answer is kept encoded; what depends on the service's state (the override,
    maintenance) and the envelope are added to it on every read, never cached."""
    first = client.get("/api/v1/status")
    settings.DATA_BACKEND_OVERRIDE = "database"
    second = client.get("/api/v1/status")
    body = second.json()
    assert (body["cached"], body["backendOverride"]) == (True, "database")
    assert first.json()["backendOverride"] is None

    def catalog_part(response):
        return response.content.split(b',"backendOverride"')[0]

    assert catalog_part(first) == catalog_part(second)
    assert json.loads(catalog_part(second) + b"}")["totalModels"] == 1


def test_local_answers__bounded_in_bytes(client, catalog, monkeypatch):
    """This process keeps no more answers than its byte budget; the shared cache still serves
    the rest."""
    status = client.get("/api/v1/status").content
    monkeypatch.setattr(response_cache, "_local", {"version": None, "answers": {}, "bytes": 0})
    monkeypatch.setattr(response_cache, "LOCAL_ANSWERS_MAX_BYTES", len(status))
    for url in ENDPOINTS:
        read(client, url)
    kept = response_cache._local
    assert 0 < kept["bytes"] <= len(status)
    assert len(kept["answers"]) < len(ENDPOINTS)
    assert all(read(client, url)["cached"] for url in ENDPOINTS)  # from the shared cache
