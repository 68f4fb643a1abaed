"""The API's edges: JSON for every error, no infrastructure in public answers, maintenance."""

import json

import pytest

from tests.conftest import SAMPLE_DIR, command

pytestmark = pytest.mark.django_db
TOKEN = {"HTTP_AUTHORIZATION": "Bearer test-status-token"}


@pytest.fixture(autouse=True)
def sample(settings):
    settings.JSON_EXPORT_DIR = SAMPLE_DIR


@pytest.mark.parametrize("method", ["post", "delete", "patch"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models",
        "/api/v1/models/openai-o3",
        "/api/v1/providers",
        "/api/v1/status",
        "/api/v1/dual-write/stats",
    ],
)
def test_read_endpoints__other_methods_get_a_json_405(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "GET"
    assert response.json()["error"] == "method not allowed"


def test_status_write__post_gets_a_json_405(client):
    response = client.post("/api/v1/models/openai-o3/status", {}, **TOKEN)
    assert response.status_code == 405 and response["Allow"] == "PUT"


def test_model_list__out_of_range_and_nul_parameters_are_400(client):
    for query in ("offset=9223372036854775808", "limit=99999999999999999999", "q=a%00b"):
        response = client.get(f"/api/v1/models?{query}")
        assert response.status_code == 400, query
    assert client.get("/api/v1/models/" + "x" * 300).status_code == 400


def test_status__shows_the_override_and_maintenance(client, settings):
    body = client.get("/api/v1/status").json()
    assert (body["backendOverride"], body["maintenance"]) == (None, False)
    settings.DATA_BACKEND_OVERRIDE = "json"
    assert client.get("/api/v1/status").json()["backendOverride"] == "json"


def test_json_down__fallback_reason_is_a_category_without_paths(client, settings, tmp_path):
    settings.JSON_EXPORT_DIR = tmp_path / "missing-export"
    response = client.get("/api/v1/status")
    body = response.content.decode()
    assert response.status_code == 200
    assert response.json()["fallbackReason"] == "json unavailable"
    assert str(tmp_path) not in body and "missing-export" not in body


def test_maintenance__writes_get_503_with_retry_after_reads_go_on(
    client, admin_client_logged_in, sample_export, settings
):
    settings.JSON_EXPORT_DIR = sample_export
    command("switch_backend", "maintenance", "on", "--reason", "schema change")
    response = client.put(
        "/api/v1/models/openai-o3/status",
        json.dumps({"status": "outage"}),
        content_type="application/json",
        **TOKEN,
    )
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert response.json()["error"] == "maintenance"
    assert "Content-Security-Policy" in response  # the 503 passes the header middleware too
    assert client.get("/api/v1/status").status_code == 200
    admin = admin_client_logged_in.post("/admin/catalog/provider/add/", {"slug": "x"})
    assert admin.status_code == 503 and admin.json()["error"] == "maintenance"
    assert admin_client_logged_in.get("/admin/catalog/provider/").status_code == 200
    command("switch_backend", "maintenance", "off", "--reason", "done")
    response = client.put(
        "/api/v1/models/openai-o3/status",
        json.dumps({"status": "outage"}),
        content_type="application/json",
        **TOKEN,
    )
    assert response.status_code == 200
