import json

import pytest

from live import runtime
from migrator.models import AuditEntry, BackendState
from tests.conftest import command

pytestmark = pytest.mark.django_db


@pytest.fixture
def export(sample_export, settings):
    settings.JSON_EXPORT_DIR = sample_export
    command("backfill_json", str(sample_export))
    return sample_export


def switch(*args):
    return command("switch_backend", *args)


def test_switch_to_database__refused_without_a_passing_validation(export):
    code, _, err = switch("switch", "database", "--reason", "go")
    assert code == 1
    assert "no complete validate_migration run yet" in err
    assert runtime.current_state().active == "json"
    assert not AuditEntry.objects.exists()


def test_switch_to_database__forced_is_allowed_and_audited_as_forced(export):
    code, out, _ = switch(
        "switch", "database", "--reason", "incident 42", "--force", "--actor", "alice"
    )
    assert code == 0 and "reads now come from database" in out
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.forced) == ("alice", "switch to database", True)
    assert "incident 42" in entry.reason and "forced past" in entry.reason
    assert (entry.before["active"], entry.after["active"]) == ("json", "database")
    assert runtime.current_state().active == "database"


def test_switch_to_database__allowed_after_validation_of_the_current_export(export):
    assert command("validate_migration", str(export))[0] == 0
    code, _, _ = switch("switch", "database", "--reason", "validated")
    assert code == 0
    assert AuditEntry.objects.get().forced is False


def test_switch_to_database__refused_when_the_export_changed_since_validation(export):
    command("validate_migration", str(export))
    data = json.loads((export / "model-status.json").read_text())
    data["statuses"]["openai-o3"]["availability"] = 50.0
    (export / "model-status.json").write_text(json.dumps(data))
    code, _, err = switch("switch", "database", "--reason", "go")
    assert code == 1 and "the export changed since validation" in err
    assert "model-status.json" in err


def test_switch_to_database__refused_after_a_failed_validation(export):
    from catalog.models import ModelStatus

    ModelStatus.objects.filter(model__slug="openai-o3").delete()
    assert command("validate_migration", str(export))[0] == 1
    code, _, err = switch("switch", "database", "--reason", "go")
    assert code == 1 and "failed" in err


def test_switch_to_database__refused_while_writes_are_pending(export, settings, tmp_path):
    from live import journal

    settings.WRITE_JOURNAL_DIR = tmp_path / "journal"
    command("validate_migration", str(export))
    journal.append({"kind": "status", "model": "openai-o3", "record": {"status": "outage"}})
    code, _, err = switch("switch", "database", "--reason", "go")
    assert code == 1 and "secondary writes are pending (1 for database)" in err


def test_rollback__goes_back_at_once_without_checks(export):
    switch("switch", "database", "--reason", "go", "--force")
    switch("canary", "enable", "--percent", "10", "--reason", "c")
    code, out, _ = switch("rollback")
    assert code == 0 and "reads now come from json" in out
    state = runtime.current_state()
    assert (state.active, state.canary_enabled) == ("json", False)
    assert AuditEntry.objects.first().reason == "rollback (no reason given)"


def test_every_change__needs_a_reason_and_is_audited(export):
    code, _, err = switch("dual-write", "on")
    assert code != 0 and "--reason" in err
    switch("dual-write", "on", "--reason", "start the move")
    switch(
        "canary",
        "enable",
        "--header",
        "X-Canary",
        "--value",
        "canary=true",
        "--percent",
        "10",
        "--reason",
        "10% canary",
    )
    switch("shadow", "on", "--sample", "5", "--reason", "compare")
    switch("canary", "disable", "--reason", "done")
    actions = list(AuditEntry.objects.order_by("at", "id").values_list("action", flat=True))
    assert actions == ["dual-write on", "canary enable", "shadow on", "canary disable"]
    state = BackendState.objects.get()
    assert (state.dual_write, state.shadow_enabled, state.shadow_sample) == (True, True, 5.0)
    assert state.version == 4


def test_status__reports_state_queues_validation_and_audit(export):
    command("validate_migration", str(export))
    switch("dual-write", "on", "--reason", "start")
    code, out, _ = switch("status")
    assert code == 0
    assert "reads:          json" in out
    assert "dual-write:     on" in out
    assert "covers the current export: yes" in out
    assert "ready to switch reads to the database: yes" in out
    assert "dual-write on — start" in out
    code, out, _ = switch("status", "--format", "json")
    document = json.loads(out)
    assert document["state"]["dualWrite"] is True
    assert document["latestValidation"]["coversCurrentExport"] is True
    assert document["readyForDatabase"] == []


def test_canary__rejects_a_percentage_out_of_range(export):
    code, _, err = switch("canary", "enable", "--percent", "120", "--reason", "x")
    assert code == 2 and "between 0 and 100" in err
