"""The guard judges the whole service's traffic (shared counters) and only store failures."""

import pytest
from django.db import connection

from live import counters, runtime
from live.guard import guard
from migrator.models import AuditEntry, TrafficBucket
from tests.conftest import command

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_database(sample_export, settings):
    settings.JSON_EXPORT_DIR = sample_export
    command("backfill_json", str(sample_export))
    command("switch_backend", "switch", "database", "--reason", "go", "--force", "--auto-rollback")
    return sample_export


def test_out_of_range_offset__60_requests_answer_400_no_rollback_no_failure(client, on_database):
    for _ in range(60):
        response = client.get("/api/v1/models?offset=9223372036854775808")
        assert response.status_code == 400
        assert "offset" in response.json()["detail"]
    assert client.get("/api/v1/models/%00x").status_code == 400  # NUL in a slug
    runtime.forget_state()
    assert runtime.current_state().active == "database"
    assert not AuditEntry.objects.filter(action="auto-rollback").exists()
    assert counters.window("database", 60).errors == 0
    assert not TrafficBucket.objects.filter(errors__gt=0).exists()


def test_two_workers_each_below_the_minimum__judged_together_one_rollback_one_entry(on_database):
    from live import switch

    command("switch_backend", "auto-rollback", "--min-requests", "20", "--reason", "default")
    judged = runtime.stored_state()
    counters.after_flush(guard.check)  # as the middleware wires it in every worker
    workers = [counters.Counters(), counters.Counters()]
    workers[1]._worker = "instance-b:42:fff"
    for _ in range(12):  # alternating: each worker sees half of the failing store's traffic
        for worker in workers:
            worker.record("database", "status", 200, 0.01, error=True)
    assert all(sum(b.requests for b in w._buckets.values()) == 12 for w in workers)
    runtime.forget_state()
    assert runtime.current_state().active == "json"
    entries = AuditEntry.objects.filter(action="auto-rollback")
    assert entries.count() == 1
    assert "over 20 database reads" in entries.get().reason  # 10 + 10: neither alone had 20
    # A worker that judged the same incident (the same state version) changes nothing.
    assert switch.rollback(reason="late", actor="w2", expect_version=judged.version) is None
    assert entries.count() == 1


def test_auto_rollback__conditional_on_the_version_so_a_stale_judge_changes_nothing(on_database):
    from live import switch

    state = runtime.stored_state()
    assert switch.rollback(reason="a", actor="w1", expect_version=state.version) is not None
    command("switch_backend", "switch", "database", "--reason", "again", "--force")
    assert switch.rollback(reason="b", actor="w2", expect_version=state.version) is None
    assert runtime.stored_state().active == "database"


def test_guard__times_whole_responses_and_counts_store_failures(client, on_database):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE catalog_modelstatus RENAME TO catalog_modelstatus_away")
    try:
        bodies = [client.get("/api/v1/status").json() for _ in range(25)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE catalog_modelstatus_away RENAME TO catalog_modelstatus")
    assert all(b["dataSource"] == "json" for b in bodies)
    assert runtime.current_state().active == "json"
    window = counters.window("database", 60)
    assert window.requests >= 20 and window.errors == window.requests
    assert window.fallbacks == {"database->json:database unavailable": window.requests}
    assert AuditEntry.objects.filter(action="auto-rollback").count() == 1
