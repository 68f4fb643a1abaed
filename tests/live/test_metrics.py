import datetime as dt
import re
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from live import counters, totals
from migrator.models import Backend, BackfillRun, DeadLetter, PendingWrite
from tests.conftest import command
from tests.live.test_live import Catalog

pytestmark = pytest.mark.django_db
TOKEN = "metrics-test-token"


def scrape(client, token=TOKEN) -> dict:
    """Every sample of /metrics: {(name, ((label, value), ...)): value}."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def test_metrics__404_in_production_without_a_token(client, settings):
    settings.METRICS_TOKEN, settings.DEBUG = "", False
    assert client.get("/metrics").status_code == 404


def test_metrics__open_with_debug_and_no_token(client, settings):
    settings.METRICS_TOKEN, settings.DEBUG = "", True
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"# TYPE catalog_http_requests_total counter" in response.content


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN])
def test_metrics__401_without_the_right_bearer_token(client, token, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert TOKEN.encode() not in response.content


def test_metrics__counts_each_read_by_endpoint_store_and_status(client, token, settings):
    for _ in range(3):
        assert client.get("/api/v1/status").status_code == 200
    assert client.get("/api/v1/models/openai-o3").status_code == 200
    assert client.get("/api/v1/models/no-such-model").status_code == 404
    samples = scrape(client)
    requests = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "catalog_http_requests_total"
    }
    assert requests == {
        (("endpoint", "status"), ("status", "200"), ("store", "json")): 3.0,
        (("endpoint", "model-detail"), ("status", "200"), ("store", "json")): 1.0,
        (("endpoint", "model-detail"), ("status", "404"), ("store", "json")): 1.0,
    }
    # Both histograms count the same five reads of the JSON store, none of the database.
    for name in ("catalog_http_request_duration_seconds", "catalog_store_call_duration_seconds"):
        assert samples[(f"{name}_count", (("store", "json"),))] == 5.0
        assert samples[(f"{name}_bucket", (("le", "+Inf"), ("store", "json")))] == 5.0
        assert samples[(f"{name}_count", (("store", "database"),))] == 0.0
    whole = samples[("catalog_http_request_duration_seconds_sum", (("store", "json"),))]
    store = samples[("catalog_store_call_duration_seconds_sum", (("store", "json"),))]
    assert 0 < store <= whole


def test_metrics__a_failed_store_shows_as_errors_and_fallbacks(client, token, settings, tmp_path):
    settings.JSON_EXPORT_DIR = tmp_path / "gone"  # the JSON store cannot be read
    for _ in range(4):
        response = client.get("/api/v1/providers")
        assert response.json()["dataSource"] == "database"
    samples = scrape(client)
    assert samples[("catalog_store_errors_total", (("store", "json"),))] == 4.0
    assert samples[("catalog_store_errors_total", (("store", "database"),))] == 0.0
    key = (
        "catalog_fallbacks_total",
        (("from_store", "json"), ("reason", "json unavailable"), ("to_store", "database")),
    )
    assert samples[key] == 4.0
    # Counted against the store the reads were routed to, answered 200 by the other.
    labels = (("endpoint", "provider-list"), ("status", "200"), ("store", "json"))
    assert samples[("catalog_http_requests_total", labels)] == 4.0


def test_metrics__state_queues_and_shadow(client, token, sample_export, settings):
    settings.JSON_EXPORT_DIR = sample_export
    assert command("backfill_json", str(sample_export))[0] == 1  # 3 rejected on purpose
    assert command("validate_migration", str(sample_export))[0] == 0
    assert command("switch_backend", "switch", "database", "--reason", "t")[0] == 0
    assert (
        command("switch_backend", "canary", "enable", "--percent", "12.5", "--reason", "t")[0] == 0
    )
    PendingWrite.objects.create(created_at="2026-01-01T00:00:00Z", store=Backend.JSON, operation={})
    DeadLetter.objects.create(store=Backend.DATABASE, operation={}, error="x")
    samples = scrape(client)
    assert samples[("catalog_active_store", (("store", "database"),))] == 1.0
    assert samples[("catalog_active_store", (("store", "json"),))] == 0.0
    assert samples[("catalog_canary_enabled", ())] == 1.0
    assert samples[("catalog_canary_percent", ())] == 12.5
    assert samples[("catalog_state_version", ())] >= 2
    assert samples[("catalog_pending_writes", (("store", "json"),))] == 1.0
    assert samples[("catalog_dead_letters", (("store", "database"),))] == 1.0
    assert samples[("catalog_shadow_comparisons_total", ())] == 0.0


def test_metrics__latest_backfill_and_validation_runs(client, token, sample_export):
    assert command("backfill_json", str(sample_export))[0] == 1  # 3 rejected on purpose
    assert command("validate_migration", str(sample_export))[0] == 0
    samples = scrape(client)
    outcomes = [labels for (name, labels) in samples if name == "catalog_backfill_last_outcome"]
    assert outcomes == [(("outcome", "rejected"),)]
    assert samples[("catalog_backfill_last_run_id", ())] == BackfillRun.objects.get().pk
    assert (
        samples[("catalog_backfill_last_rows", (("count", "inserted"), ("entity", "models")))] == 39
    )
    assert samples[("catalog_backfill_last_duration_seconds", ())] >= 0
    validation = [labels for (name, labels) in samples if name == "catalog_validation_last_outcome"]
    assert validation == [(("outcome", "passed"),)]
    assert not [labels for (name, labels) in samples if ("count", "seconds") in labels]
    assert ("catalog_validation_last_finished_timestamp_seconds", ()) in samples


def test_metrics__totals_do_not_go_down_when_old_minutes_are_folded(client, token):
    for _ in range(3):
        client.get("/api/v1/status")
    counters.flush()
    before = scrape(client)
    totals.fold(now=timezone.now() + dt.timedelta(hours=3))  # every minute so far is folded
    after = scrape(client)
    key = (
        "catalog_http_requests_total",
        (("endpoint", "status"), ("status", "200"), ("store", "json")),
    )
    assert before[key] == after[key] == 3.0


# --- Real processes: gunicorn with two workers on loopback ----------------------------------


def fetch_metrics(server) -> dict:
    request = urllib.request.Request(  # noqa: S310 (our own http:// server)
        server.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: dict, name: str, **labels) -> float:
    return sum(
        value
        for (sample, found), value in samples.items()
        if sample == name and set(labels.items()) <= set(found)
    )


def poll(condition, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


@pytest.fixture
def observed(sample_export, tmp_path, scratch_database):
    catalog = Catalog(sample_export, tmp_path, scratch_database)
    log = tmp_path / "gunicorn.log"
    server = catalog.server(log, METRICS_TOKEN=TOKEN)
    yield catalog, server, log
    server.stop()


@pytest.mark.live
def test_two_workers__metrics_count_every_request_whichever_worker_served_it(observed):
    catalog, server, _ = observed
    paths = [
        "/api/v1/status",
        "/api/v1/models?limit=5",
        "/api/v1/providers",
        "/api/v1/models/openai-o3",
    ]
    failures = []

    def client(worker: int):
        for i in range(125):
            status, _ = server.get(paths[(worker + i) % len(paths)])
            if status != 200:
                failures.append(status)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    # Each worker writes its counts every second; any worker's /metrics sums them all.
    counted = poll(
        lambda: total(fetch_metrics(server), "catalog_http_requests_total") == 1000, timeout=15
    )
    samples = fetch_metrics(server)
    assert counted, total(samples, "catalog_http_requests_total")
    assert total(samples, "catalog_http_requests_total", endpoint="status", status="200") == 250
    assert total(samples, "catalog_http_request_duration_seconds_count", store="json") == 1000
    assert total(samples, "catalog_store_call_duration_seconds_count", store="json") == 1000
    workers = catalog.sql("SELECT COUNT(DISTINCT worker) FROM migrator_trafficbucket")[0][0]
    assert workers == 2  # both workers served (and counted) part of the thousand


@pytest.mark.live
def test_json_store_failure__in_metrics_status_and_the_alert_line_within_a_minute(observed):
    catalog, server, log = observed
    for _ in range(30):
        assert server.get("/api/v1/status")[0] == 200
    away = catalog.export.with_name("export.away")
    catalog.export.rename(away)  # the JSON store's files are gone: a real fault
    started = time.monotonic()
    try:
        for _ in range(40):
            status, body = server.get("/api/v1/providers")
            assert status == 200 and body["dataSource"] == "database"  # the fallback answers
        errors = poll(
            lambda: total(fetch_metrics(server), "catalog_store_errors_total", store="json") >= 40,
            timeout=60,
        )
        assert errors
        samples = fetch_metrics(server)
        assert (
            total(samples, "catalog_fallbacks_total", from_store="json", reason="json unavailable")
            == 40
        )
        alerted = poll(lambda: "event=alert target=json:error_rate:5m" in log.read_text(), 60)
        assert alerted, log.read_text()[-3000:]
        assert total(fetch_metrics(server), "catalog_target_crossed", target="json:error_rate:5m")
        status = catalog.operator("switch_backend", "status")
        assert "CROSSED json:error_rate:5m: json over the last 5m: error rate 57.1% (40 of 70" in (
            status.stdout
        )
        assert time.monotonic() - started < 60
        # One alert line for the crossing, whichever worker saw it first, however many reads.
        assert log.read_text().count("event=alert target=json:error_rate:5m") == 1
        # gunicorn's access log carries each request's duration.
        assert re.search(r'"GET /api/v1/providers HTTP/1.1" 200 \d+ \d+ms', log.read_text())
    finally:
        away.rename(catalog.export)


@pytest.mark.live
def test_database_down__metrics_503_then_the_counts_catch_up(observed):
    catalog, server, _ = observed
    for _ in range(10):
        assert server.get("/api/v1/status")[0] == 200
    assert poll(lambda: total(fetch_metrics(server), "catalog_http_requests_total") == 10, 15)
    catalog.cut()  # the database (and the counters' table) goes away
    try:
        for _ in range(10):
            assert server.get("/api/v1/status")[0] == 200  # reads go on from JSON
        with pytest.raises(urllib.error.HTTPError) as refused:
            fetch_metrics(server)
        assert refused.value.code == 503
    finally:
        catalog.restore()
    # Each worker kept its counts in memory and writes them now: nothing was lost.
    assert poll(lambda: total(fetch_metrics(server), "catalog_http_requests_total") == 20, 30)
