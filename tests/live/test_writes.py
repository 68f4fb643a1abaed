import json
import multiprocessing

import pytest

from catalog.models import ModelStatus
from live.stores import JsonStore
from migrator.models import PendingWrite, StoreWriteStats
from tests.conftest import command

pytestmark = pytest.mark.django_db

TOKEN = {"HTTP_AUTHORIZATION": "Bearer test-status-token"}
STATUS = {
    "status": "degraded",
    "availability": 97.25,
    "latencyP50": 90,
    "latencyP95": 180,
    "latencyP99": 400,
    "checkedAt": "2026-11-22T01:00:00.000Z",
}


@pytest.fixture
def export(sample_export, settings, tmp_path):
    settings.JSON_EXPORT_DIR = sample_export
    settings.WRITE_JOURNAL_DIR = tmp_path / "journal"
    command("backfill_json", str(sample_export))
    return sample_export


def put(client, slug, body, **headers):
    return client.put(
        f"/api/v1/models/{slug}/status",
        json.dumps(body),
        content_type="application/json",
        **headers,
    )


def exported_status(export, slug):
    return json.loads((export / "model-status.json").read_text())["statuses"][slug]


def test_put_status__needs_the_token(client, export):
    response = put(client, "openai-o3", STATUS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert put(client, "openai-o3", STATUS, HTTP_AUTHORIZATION="Bearer wrong").status_code == 403


def test_put_status__disabled_without_a_configured_token(client, export, settings):
    settings.STATUS_WRITE_TOKEN = ""
    response = put(client, "openai-o3", STATUS, **TOKEN)
    assert response.status_code == 503 and "STATUS_WRITE_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "degraded", "availability": 140}, "availability"),
        ({"status": "down"}, "status"),
        ({"status": "degraded", "checkedAt": "noon"}, "checkedAt"),
    ],
)
def test_put_status__bad_body_is_a_400_naming_the_field(client, export, body, field):
    response = put(client, "openai-o3", body, **TOKEN)
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert exported_status(export, "openai-o3")["availability"] == 95.05


def test_put_status__not_json_and_unknown_model(client, export):
    response = client.put(
        "/api/v1/models/openai-o3/status", "{nope", content_type="application/json", **TOKEN
    )
    assert response.status_code == 400
    assert put(client, "openai-o3", [STATUS], **TOKEN).status_code == 400
    assert put(client, "no-such-model", STATUS, **TOKEN).status_code == 404


def test_put_status__json_primary_rewrites_the_export_and_reads_see_it(client, export):
    response = put(client, "openai-o3", STATUS, **TOKEN)
    assert response.status_code == 200
    assert response.json() == {
        "written": {"model": "openai-o3", "region": "global"},
        "primary": "json",
        "secondary": None,
    }
    assert exported_status(export, "openai-o3") == STATUS
    model = client.get("/api/v1/models/openai-o3").json()["model"]
    assert model["status"]["status"] == "degraded"
    assert ModelStatus.objects.get(model__slug="openai-o3").status != "degraded"  # no dual-write
    # The export stays loadable and comparable.
    assert command("backfill_json", str(export), "--dry-run")[0] == 1


def test_dual_write__the_database_gets_every_write_too(client, export):
    command("switch_backend", "dual-write", "on", "--reason", "move")
    regional = STATUS | {"region": "eu-west-1"}
    assert put(client, "openai-o3", regional, **TOKEN).status_code == 200
    row = ModelStatus.objects.get(model__slug="openai-o3", region="eu-west-1")
    assert (row.status, row.availability) == ("degraded", 97.25)
    assert exported_status(export, "openai-o3")[-1] == regional  # now a list of two regions
    stats = {s.store: (s.attempted, s.succeeded) for s in StoreWriteStats.objects.all()}
    assert stats == {"json": (1, 1), "database": (1, 1)}
    # Both stores hold the same thing: the validation passes (fast path: fingerprints agree).
    assert command("validate_migration", str(export))[0] == 0


def test_dual_write__a_failing_json_store_queues_and_replays(client, export, settings, tmp_path):
    command("switch_backend", "switch", "database", "--reason", "go", "--force")
    command("switch_backend", "dual-write", "on", "--reason", "move")
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    settings.JSON_EXPORT_DIR = not_a_directory  # the JSON store cannot be written
    assert put(client, "openai-o3", STATUS, **TOKEN).status_code == 200
    assert ModelStatus.objects.get(model__slug="openai-o3").status == "degraded"
    assert PendingWrite.objects.filter(store="json").count() == 1
    stats = client.get("/api/v1/dual-write/stats", **TOKEN).json()
    assert stats["queue"]["json"]["depth"] == 1 and stats["pending"] == 1
    assert stats["stores"]["json"]["lastError"]  # details: for the token's holder only
    assert client.get("/api/v1/dual-write/stats").json()["stores"]["json"]["lastError"] is None
    settings.JSON_EXPORT_DIR = export
    code, out, _ = command("switch_backend", "replay")
    assert code == 0 and "json: 1 applied, 0 left" in out
    assert exported_status(export, "openai-o3") == STATUS
    assert not PendingWrite.objects.exists()


def test_dual_write_stats__shape(client, export):
    body = client.get("/api/v1/dual-write/stats").json()
    assert set(body) >= {
        "dualWrite",
        "primary",
        "secondary",
        "stores",
        "queue",
        "pending",
        "fallbacks",
        "shadow",
        "timestamp",
    }
    assert set(body["stores"]) == {"json", "database"}


def test_admin_edit__goes_through_the_write_service(admin_client_logged_in, export):
    command("switch_backend", "dual-write", "on", "--reason", "move")
    status = ModelStatus.objects.get(model__slug="openai-o3")
    page = admin_client_logged_in.get(f"/admin/catalog/modelstatus/{status.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) for name in form.fields}
    data.update(status="outage", availability="12.5")
    data = {k: ("" if v is None else v) for k, v in data.items()}
    response = admin_client_logged_in.post(f"/admin/catalog/modelstatus/{status.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    status.refresh_from_db()
    assert (status.status, status.availability) == ("outage", 12.5)
    assert exported_status(export, "openai-o3")["status"] == "outage"
    assert command("validate_migration", str(export))[0] == 0


def test_admin_edit__refused_while_reads_come_from_json_without_dual_write(
    admin_client_logged_in, export
):
    status = ModelStatus.objects.get(model__slug="openai-o3")
    response = admin_client_logged_in.post(
        f"/admin/catalog/modelstatus/{status.pk}/change/", {"status": "outage"}
    )
    assert response.status_code == 200
    assert b"dual-write is off" in response.content
    status.refresh_from_db()
    assert status.status != "outage"


def _write_many(directory, worker, count):
    store = JsonStore(directory)
    for i in range(count):
        store.apply(
            {
                "kind": "status",
                "model": "openai-o3",
                "record": {
                    "region": f"w{worker}-{i}",
                    "status": "operational",
                    "availability": 99.0,
                },
            }
        )


def test_json_store__concurrent_writers_lose_nothing(export):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(export, w, 25)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    statuses = json.loads((export / "model-status.json").read_text())["statuses"]["openai-o3"]
    regions = {s.get("region", "global") for s in statuses}
    assert regions == {"global"} | {f"w{w}-{i}" for w in range(4) for i in range(25)}
