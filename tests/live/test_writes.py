import json
import multiprocessing
import time

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


# --- validated once, before either store ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "outage", "region": "r" * 100}, "region"),
        ({"status": "outage", "requestsPerMin": 2**64}, "requestsPerMin"),
        ({"status": "outage", "note": "a\x00b"}, "note"),
        ({}, "status"),
        ({"availability": 50}, "status"),
    ],
)
def test_poison_write__400_naming_the_field_before_either_store(client, export, body, field):
    command("switch_backend", "dual-write", "on", "--reason", "move")
    before = (export / "model-status.json").read_bytes()
    response = put(client, "openai-o3", body, **TOKEN)
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert (export / "model-status.json").read_bytes() == before
    assert ModelStatus.objects.get(model__slug="openai-o3").status == "operational"
    assert not StoreWriteStats.objects.exists()  # no store was asked, nothing failed


def test_poison_write__the_same_400_with_the_database_primary(client, export):
    command("switch_backend", "switch", "database", "--reason", "go", "--force")
    response = put(client, "openai-o3", {"status": "outage", "region": "r" * 100}, **TOKEN)
    assert response.status_code == 400 and "region" in response.json()["detail"]


def test_deep_body__400_not_500(client, export):
    deep = "[" * 5000 + "]" * 5000
    body = '{"status": "outage", "x": ' + deep + "}"
    response = client.put(
        "/api/v1/models/openai-o3/status", body, content_type="application/json", **TOKEN
    )
    assert response.status_code == 400 and response.json()["error"] == "the body nests too deeply"
    shallow = '{"status": "outage", "x": ' + "[" * 20 + "]" * 20 + "}"
    response = client.put(
        "/api/v1/models/openai-o3/status", shallow, content_type="application/json", **TOKEN
    )
    assert response.status_code == 400


def test_large_body__json_413(client, export):
    body = json.dumps({"status": "outage", "note": "x" * (3 * 1024 * 1024)})
    response = client.put(
        "/api/v1/models/openai-o3/status", body, content_type="application/json", **TOKEN
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "the body is too large"


# --- dead letters -------------------------------------------------------------------------------


def test_refused_queued_write__becomes_a_dead_letter_and_later_writes_flow(client, export):
    from live import journal
    from migrator.models import DeadLetter

    command("switch_backend", "dual-write", "on", "--reason", "move")
    # A real refusal: the database no longer holds this model (the JSON export still does).
    from catalog.models import Model

    Model.objects.filter(slug="openai-o3").delete()
    assert put(client, "openai-o3", STATUS, **TOKEN).status_code == 200
    assert put(client, "openai-gpt-4o", STATUS | {"region": "eu-1"}, **TOKEN).status_code == 200
    # The refused one is set aside; the later one reached the database.
    letter = DeadLetter.objects.get()
    assert (letter.store, letter.attempts, letter.resolution) == ("database", 3, "")
    assert "no model with slug 'openai-o3'" in letter.error
    assert ModelStatus.objects.filter(model__slug="openai-gpt-4o", region="eu-1").exists()
    assert journal.is_empty()
    code, out, _ = command("switch_backend", "replay")
    assert code == 0 and "1 dead letter(s) unresolved" in out


def test_dead_letter__discard_needs_a_reason_and_retry_applies_both_audited(
    admin_client_logged_in, export
):
    from migrator.models import AuditEntry, DeadLetter

    letter = DeadLetter.objects.create(
        store="database",
        operation={"kind": "status", "model": "openai-o3", "record": STATUS},
        error="refused",
    )
    other = DeadLetter.objects.create(store="json", operation={"kind": "x"}, error="bad kind")
    url = "/admin/migrator/deadletter/"
    page = admin_client_logged_in.get(url)
    assert page.status_code == 200 and b"Retry the selected writes now" in page.content
    admin_client_logged_in.post(
        url, {"action": "discard", "_selected_action": [other.pk], "reason": ""}
    )
    other.refresh_from_db()
    assert other.resolution == ""
    admin_client_logged_in.post(
        url, {"action": "discard", "_selected_action": [other.pk], "reason": "malformed"}
    )
    admin_client_logged_in.post(url, {"action": "retry", "_selected_action": [letter.pk]})
    letter.refresh_from_db()
    other.refresh_from_db()
    assert (other.resolution, other.resolution_reason) == ("discarded", "malformed")
    assert letter.resolution == "retried"
    assert ModelStatus.objects.get(model__slug="openai-o3").status == "degraded"
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"dead letter discarded", "dead letter retried"} <= actions


# --- a read-only JSON store (a URL source, Vercel) ----------------------------------------------


def test_json_primary_read_only__409_naming_the_cause(client, export, settings):
    settings.JSON_EXPORT_URL = "https://raw.example.test/export"
    response = put(client, "openai-o3", STATUS, **TOKEN)
    assert response.status_code == 409
    assert response.json()["error"] == "the primary store is read-only here"
    assert "JSON_EXPORT_URL" in response.json()["detail"]
    assert exported_status(export, "openai-o3")["availability"] == 95.05  # nothing written
    settings.JSON_EXPORT_URL, settings.ON_VERCEL = "", True
    response = put(client, "openai-o3", STATUS, **TOKEN)
    assert response.status_code == 409 and "Vercel" in response.json()["detail"]


def test_json_primary_read_only__the_shipped_sample_is_409_too(client, export, settings):
    from tests.conftest import SAMPLE_DIR

    settings.JSON_EXPORT_DIR = SAMPLE_DIR
    response = put(client, "openai-o3", STATUS, **TOKEN)
    assert response.status_code == 409 and "data/sample" in response.json()["detail"]


def test_database_primary_read_only_json__secondary_writes_stay_queued(client, export, settings):
    from live import writes
    from migrator.models import DeadLetter

    command("switch_backend", "switch", "database", "--reason", "go", "--force")
    command("switch_backend", "dual-write", "on", "--reason", "keep json")
    settings.JSON_EXPORT_URL = "https://raw.example.test/export"
    assert put(client, "openai-o3", STATUS, **TOKEN).status_code == 200
    for _ in range(settings.WRITE_MAX_ATTEMPTS + 2):  # drained again and again: never refused
        writes.drain()
    assert PendingWrite.objects.filter(store="json").count() == 1
    assert not DeadLetter.objects.exists()
    assert "JSON_EXPORT_URL" in PendingWrite.objects.get().last_error


@pytest.mark.django_db(transaction=True)
def test_drainer__a_write_queued_in_a_transaction_is_applied_once_it_commits(
    export, settings, tmp_path
):
    from django.db import transaction

    from live import writes

    settings.WRITE_QUEUE_IN_BACKGROUND = True
    settings.WRITE_RETRY_SECONDS = 3600  # only the kick can make it drain within the test
    drainer = writes.Drainer()
    operation = writes._operation("status", model="openai-o3", record=STATUS, actor="test")
    with transaction.atomic():  # as an admin save: the queued write is not committed yet
        writes.enqueue("json", operation)
        drainer.kick()
        time.sleep(1)  # time for a drainer woken too early to look, find nothing and go idle
    deadline = time.monotonic() + 20
    while PendingWrite.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not PendingWrite.objects.exists()
    assert exported_status(export, "openai-o3")["status"] == "degraded"
