import pytest
from django.db import connection

from catalog.models import ModelStatus
from live import runtime
from migrator.models import AuditEntry, ShadowMismatch, ShadowStats
from tests.conftest import command

pytestmark = pytest.mark.django_db


@pytest.fixture
def export(sample_export, settings):
    settings.JSON_EXPORT_DIR = sample_export
    command("backfill_json", str(sample_export))
    return sample_export


def test_shadow__identical_stores_compare_equal(client, export):
    command("switch_backend", "shadow", "on", "--sample", "100", "--reason", "compare")
    for url in (
        "/api/v1/status",
        "/api/v1/providers",
        "/api/v1/models?limit=10",
        "/api/v1/models/openai-whisper-v3",
    ):
        assert client.get(url).json()["dataSource"] == "json"
    stats = ShadowStats.objects.get()
    assert (stats.compared, stats.mismatched) == (4, 0)


def test_shadow__a_difference_is_counted_with_an_example(client, export):
    command("switch_backend", "shadow", "on", "--sample", "100", "--reason", "compare")
    ModelStatus.objects.filter(model__slug="openai-o3").update(availability=1.0)
    body = client.get("/api/v1/models/openai-o3").json()
    assert body["model"]["availability"] == 95.05  # the serving store's answer, unchanged
    stats = ShadowStats.objects.get()
    assert (stats.compared, stats.mismatched) == (1, 1)
    example = ShadowMismatch.objects.get()
    assert example.path == "/api/v1/models/openai-o3" and example.serving == "json"
    assert "95.05" in example.difference and "1.0" in example.difference


def test_auto_rollback__on_a_shadow_mismatch(client, export):
    command("switch_backend", "switch", "database", "--reason", "go", "--force", "--auto-rollback")
    command("switch_backend", "shadow", "on", "--sample", "100", "--reason", "compare")
    ModelStatus.objects.filter(model__slug="openai-o3").update(availability=1.0)
    client.get("/api/v1/models/openai-o3")
    state = runtime.current_state()
    assert state.active == "json" and state.auto_rollback is False
    entry = AuditEntry.objects.first()
    assert (entry.action, entry.actor) == ("auto-rollback", "auto-rollback")
    assert "shadow mismatch" in entry.reason


def test_auto_rollback__on_a_forced_error_rate(client, export):
    command("switch_backend", "switch", "database", "--reason", "go", "--force", "--auto-rollback")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE catalog_modelstatus RENAME TO catalog_modelstatus_away")
    try:
        bodies = [client.get("/api/v1/status").json() for _ in range(25)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE catalog_modelstatus_away RENAME TO catalog_modelstatus")
    # Every read was still answered (from JSON, saying why), and reads went back to JSON.
    assert all(b["dataSource"] == "json" for b in bodies)
    assert bodies[0]["fallbackReason"] == "database unavailable"  # a category, no details
    assert runtime.current_state().active == "json"
    entry = AuditEntry.objects.first()
    assert entry.action == "auto-rollback" and "error rate 100%" in entry.reason


def test_fallback__both_stores_down_is_a_503(client, export, settings, tmp_path):
    settings.JSON_EXPORT_DIR = tmp_path / "gone"
    command("switch_backend", "switch", "database", "--reason", "go", "--force")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE catalog_model RENAME TO catalog_model_away")
    try:
        response = client.get("/api/v1/models")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE catalog_model_away RENAME TO catalog_model")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "no data store can answer"
    assert body["detail"] == {"database": "database unavailable", "json": "json unavailable"}
