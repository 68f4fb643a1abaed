import datetime as dt

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from live import counters, totals
from migrator.models import Backend, DeadLetter, PendingWrite
from tests.conftest import command

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
    assert len(outcomes) == 1 and ("outcome", "rejected") in outcomes[0]
    assert (
        samples[("catalog_backfill_last_rows", (("count", "inserted"), ("entity", "models")))] == 39
    )
    assert samples[("catalog_backfill_last_duration_seconds", ())] >= 0
    validation = [labels for (name, labels) in samples if name == "catalog_validation_last_outcome"]
    assert ("outcome", "passed") in validation[0]
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
