import json

import pytest

from catalog.backends import get_backend
from live.json_backend import JsonBackend
from tests.conftest import SAMPLE_DIR, command

pytestmark = pytest.mark.django_db

QUERIES = [
    "/api/v1/status",
    "/api/v1/providers",
    "/api/v1/models",
    "/api/v1/models?limit=7&offset=7",
    "/api/v1/models?limit=7&offset=35",
    "/api/v1/models?provider=openai",
    "/api/v1/models?provider=mistral",
    "/api/v1/models?status=operational",
    "/api/v1/models?status=degraded&ordering=-name",
    "/api/v1/models?status=outage",
    "/api/v1/models?status=unknown",
    "/api/v1/models?modality=image",
    "/api/v1/models?capability=code",
    "/api/v1/models?isActive=false",
    "/api/v1/models?isActive=true&limit=5&offset=10",
    "/api/v1/models?q=claude",
    "/api/v1/models?search=GEMINI",
    "/api/v1/models?q=3.5",
    "/api/v1/models?q=%25",
    "/api/v1/models?q=o&status=operational&limit=3&offset=2",
    "/api/v1/models?status=degraded&provider=google",
    "/api/v1/models?offset=100",
    "/api/v1/models?ordering=name",
    "/api/v1/models?ordering=-releasedAt",
    "/api/v1/models?ordering=contextWindow&limit=10",
    "/api/v1/models?ordering=-contextWindow&limit=10&offset=30",
    "/api/v1/models?ordering=-provider",
    "/api/v1/models/openai-whisper-v3",
    "/api/v1/models/anthropic-claude-3-opus",
    "/api/v1/models/cohere-embed-v3",
    "/api/v1/models/ai21-jamba-1.5-large",
    "/api/v1/models/nope",
]
ENVELOPE = ("timestamp", "dataSource")


def body(client, url):
    response = client.get(url)
    data = response.json()
    source = data.pop("dataSource", None)
    data.pop("timestamp", None)
    return response.status_code, source, data


def test_both_backends__answer_every_endpoint_identically(client, settings):
    """The sample loaded into the database, and served from the export: same bodies."""
    command("backfill_json", str(SAMPLE_DIR))
    for url in QUERIES:
        settings.DATA_BACKEND = "database"
        from live import runtime

        runtime.forget_state()
        status_db, source_db, from_db = body(client, url)
        settings.DATA_BACKEND = "json"
        runtime.forget_state()
        status_json, source_json, from_json = body(client, url)
        assert status_db == status_json, url
        assert from_db == from_json, url
        if status_db == 200:
            assert (source_db, source_json) == ("database", "json"), url


def test_json_backend__parses_once_and_again_only_when_a_file_changes(sample_export, settings):
    settings.JSON_EXPORT_DIR = sample_export
    backend = JsonBackend()
    first = backend.snapshot()
    assert backend.snapshot() is first
    data = json.loads((sample_export / "model-status.json").read_text())
    data["statuses"]["openai-o3"]["status"] = "outage"
    (sample_export / "model-status.json").write_text(json.dumps(data))
    second = backend.snapshot()
    assert second is not first
    assert second.statuses("openai-o3")[0]["status"] == "outage"


def test_json_backend__keeps_what_backfill_keeps(settings):
    settings.JSON_EXPORT_DIR = SAMPLE_DIR
    snapshot = JsonBackend().snapshot()
    assert len(snapshot.providers) == 10 and "mistral" in snapshot.providers
    assert len(snapshot.models) == 39
    assert sum(len(snapshot.statuses(row["slug"])) for row in snapshot.models) == 58
    assert snapshot.summary_figures["statuses"] == 58
    assert snapshot.statuses("openai-gpt-5-preview") == []


def test_json_backend__unreadable_export_is_unavailable(tmp_path, settings):
    from catalog.backends import BackendUnavailable

    settings.JSON_EXPORT_DIR = tmp_path / "gone"
    with pytest.raises(BackendUnavailable, match=r"json: .*no such file"):
        JsonBackend().status_summary()


def test_registered_backends(settings):
    assert get_backend("json").name == "json"
    assert get_backend("database").name == "database"
