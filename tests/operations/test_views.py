"""The index page, the docs, /api/health, the cron entry point and /api/v1/debug/db."""

import pytest

from migrator.models import BackfillRun, ValidationRun
from tests.conftest import command

pytestmark = pytest.mark.django_db


def test_index__links_to_api_admin_health_and_docs(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    for link in ("/api/v1/models", "/admin/", "/healthz", "/api/health", "/docs/export-format.md"):
        assert f'href="{link}"' in page


def test_docs__the_export_format_is_served_from_the_repository(client):
    response = client.get("/docs/export-format.md")
    assert response.status_code == 200
    assert b"model-status.json" in b"".join(response.streaming_content)
    assert client.get("/docs/settings.py").status_code == 404


def test_api_health__answers_as_healthz(client):
    response = client.get("/api/health", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json() == client.get("/healthz", HTTP_ACCEPT="application/json").json()


CRON = "/api/cron/sync-models"


def test_cron__without_a_configured_secret_is_disabled(client, settings):
    settings.CRON_SECRET = ""
    response = client.get(CRON, HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 503
    assert response.json()["error"] == "cron is disabled"


@pytest.mark.parametrize(
    ("header", "status"), [(None, 401), ("Bearer wrong", 403), ("Basic c2VjcmV0", 401)]
)
def test_cron__refuses_a_missing_or_wrong_bearer(client, settings, header, status):
    settings.CRON_SECRET = "s3cret-cron"
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get(CRON, **headers)
    assert response.status_code == status
    assert not BackfillRun.objects.exists()


def test_cron__refuses_clearly_before_any_sync(client, settings):
    settings.CRON_SECRET = "s3cret-cron"
    response = client.get(CRON, HTTP_AUTHORIZATION="Bearer s3cret-cron")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("no complete sync has run yet")
    assert not BackfillRun.objects.exists()


def test_cron__runs_backfill_then_validation(client, settings):
    settings.CRON_SECRET = "s3cret-cron"
    command("backfill_json")  # the first sync, from a shell
    command("validate_migration")
    response = client.get(CRON, HTTP_AUTHORIZATION="Bearer s3cret-cron")
    assert response.status_code == 200, response.json()
    document = response.json()
    assert document["ok"] is True
    assert document["backfill"]["exitStatus"] == 1  # the sample's rejects, excused
    assert document["validation"]["passed"] is True
    assert BackfillRun.objects.count() == 2 and ValidationRun.objects.count() == 2


def test_cron__refuses_a_sync_longer_than_the_time_limit(client, settings):
    settings.CRON_SECRET = "s3cret-cron"
    settings.CRON_TIME_LIMIT = 0.000001
    command("backfill_json")
    command("validate_migration")
    response = client.get(CRON, HTTP_AUTHORIZATION="Bearer s3cret-cron")
    assert response.status_code == 503
    assert "of this function's 1e-06 s (CRON_TIME_LIMIT)" in response.json()["detail"]
    assert BackfillRun.objects.count() == 1


def test_debug_db__staff_only(client, django_user_model):
    assert client.get("/api/v1/debug/db").status_code == 403
    user = django_user_model.objects.create_user("viewer", password="pw")
    client.force_login(user)
    assert client.get("/api/v1/debug/db").status_code == 403


def test_debug_db__connection_and_migration_state_without_secrets(admin_client_logged_in, settings):
    settings.CRON_SECRET = "s3cret-cron"
    response = admin_client_logged_in.get("/api/v1/debug/db")
    assert response.status_code == 200
    document = response.json()
    from django.db import connection

    assert document["vendor"] == connection.vendor
    assert document["serverVersion"].split()[0] in ("SQLite", "PostgreSQL")
    assert document["migrations"]["pending"] == []
    assert document["migrations"]["applied"] > 20
    body = response.content.decode()
    for secret in (settings.SECRET_KEY, settings.STATUS_WRITE_TOKEN, "s3cret-cron"):
        assert secret not in body
    if connection.settings_dict.get("PASSWORD"):
        assert connection.settings_dict["PASSWORD"] not in body


def test_cron__after_the_switch_publishes_instead_of_loading(client, settings, tmp_path):
    from tests.operations.test_publish import git, published_status

    settings.CRON_SECRET = "s3cret-cron"
    bare = tmp_path / "export.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    git("clone", "--quiet", str(bare), str(seed))
    (seed / "README.md").write_text("the export\n")
    git("add", "README.md", cwd=seed)
    git("commit", "--quiet", "-m", "start", cwd=seed)
    git("push", "--quiet", "origin", "HEAD:main", cwd=seed)
    settings.EXPORT_GIT_URL, settings.EXPORT_GIT_CHECKOUT = str(bare), tmp_path / "checkout"
    command("backfill_json")
    settings.DATA_BACKEND = "database"  # reads come from the database
    runs = BackfillRun.objects.count()
    response = client.get(CRON, HTTP_AUTHORIZATION="Bearer s3cret-cron")
    assert response.status_code == 200, response.json()
    document = response.json()
    assert (document["direction"], document["publish"]["pushed"]) == ("publish", True)
    assert BackfillRun.objects.count() == runs  # nothing loaded from the export
    assert published_status(bare, "openai-o3")["availability"] == 95.05
    again = client.get(CRON, HTTP_AUTHORIZATION="Bearer s3cret-cron").json()
    assert again["publish"]["pushed"] is False
