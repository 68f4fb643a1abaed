import json

import pytest

from catalog.models import ModelStatus
from migrator.models import PrunedRow
from tests.conftest import command

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/admin/migrator/backfillrun/",
        "/admin/migrator/rejectedrecord/",
        "/admin/migrator/prunedrow/",
        "/admin/migrator/rejectedrecord/?entity__exact=statuses",
        "/admin/migrator/validationrun/",
        "/admin/migrator/backendstate/",
        "/admin/migrator/auditentry/",
        "/admin/migrator/storewritestats/",
        "/admin/migrator/pendingwrite/",
        "/admin/migrator/shadowmismatch/",
    ],
)
def test_changelists__render_after_a_backfill(admin_client_logged_in, sample_export, url):
    command("backfill_json", str(sample_export))
    command("validate_migration", str(sample_export))
    command("switch_backend", "dual-write", "on", "--reason", "admin pages have rows to show")
    response = admin_client_logged_in.get(url)
    assert response.status_code == 200


def test_run_and_reject_pages__show_their_records(admin_client_logged_in, sample_export):
    from migrator.models import BackfillRun, RejectedRecord

    command("backfill_json", str(sample_export))
    run = BackfillRun.objects.get()
    page = admin_client_logged_in.get(f"/admin/migrator/backfillrun/{run.pk}/change/")
    assert page.status_code == 200 and b"model-status.json" in page.content
    assert (
        b"tate token (what the next run compares" in page.content
        and run.state_token["catalog"]["statuses"]["digest"]
    )
    assert run.state_token["catalog"]["statuses"]["digest"].encode() in page.content
    reject = RejectedRecord.objects.get(record_key="deepseek-deepseek-r1@global")
    page = admin_client_logged_in.get(f"/admin/migrator/rejectedrecord/{reject.pk}/change/")
    assert b"101.5" in page.content
    assert admin_client_logged_in.get("/admin/migrator/backfillrun/add/").status_code == 403


def test_restore_action__undoes_a_prune(admin_client_logged_in, sample_export):
    command("backfill_json", str(sample_export))
    data = json.loads((sample_export / "model-status.json").read_text())
    data["statuses"]["openai-whisper-v3"].pop()
    (sample_export / "model-status.json").write_text(json.dumps(data))
    command("backfill_json", str(sample_export), "--prune")
    pruned = PrunedRow.objects.get()
    assert ModelStatus.objects.filter(model__slug="openai-whisper-v3").count() == 7
    response = admin_client_logged_in.post(
        "/admin/migrator/prunedrow/",
        {"action": "restore", "_selected_action": [pruned.pk]},
        follow=True,
    )
    assert b"1 row(s) restored." in response.content
    assert ModelStatus.objects.filter(model__slug="openai-whisper-v3").count() == 8
    pruned.refresh_from_db()
    assert pruned.restored_at is not None
