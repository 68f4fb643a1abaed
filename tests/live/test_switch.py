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


# --- rollback means safety: every read back to JSON, each time -------------------------------


def reads_from():
    runtime.forget_state()
    return runtime.current_state().active


def test_rollback__after_a_switch_reads_come_from_json(export):
    switch("switch", "database", "--reason", "go", "--force")
    assert reads_from() == "database"
    code, out, _ = switch("rollback", "--reason", "bad")
    assert code == 0 and "reads now come from json" in out
    assert reads_from() == "json"


def test_rollback__twice_stays_on_json_and_the_second_changes_nothing(export):
    switch("switch", "database", "--reason", "go", "--force")
    switch("rollback", "--reason", "first")
    entries = AuditEntry.objects.count()
    code, out, _ = switch("rollback", "--reason", "second")
    assert code == 0 and "nothing to roll back" in out
    assert reads_from() == "json"
    assert AuditEntry.objects.count() == entries


def test_rollback__after_an_auto_rollback_stays_on_json(export):
    from live import switch as switch_service

    switch("switch", "database", "--reason", "go", "--force", "--auto-rollback")
    state = runtime.stored_state()
    switch_service.rollback(
        reason="shadow mismatch", actor="auto-rollback", expect_version=state.version
    )
    assert reads_from() == "json"
    code, out, _ = switch("rollback", "--reason", "again")
    assert code == 0 and "nothing to roll back" in out
    assert reads_from() == "json"


def test_rollback__on_a_fresh_database_changes_nothing_and_says_so(export):
    code, out, _ = switch("rollback")
    assert code == 0 and "nothing to roll back" in out
    assert reads_from() == "json"
    assert not AuditEntry.objects.exists() and not BackendState.objects.exists()


def test_rollback__after_switch_json_goes_to_json_not_to_the_previous_store(export):
    switch("switch", "database", "--reason", "go", "--force")
    switch("switch", "json", "--reason", "back")
    switch("canary", "enable", "--percent", "10", "--reason", "try again")
    code, _, _ = switch("rollback", "--reason", "no")
    assert code == 0
    state = runtime.stored_state()
    assert (state.active, state.canary_enabled) == ("json", False)


# --- the override ----------------------------------------------------------------------------


def test_rollback__warns_while_the_override_names_the_database(export, settings):
    settings.DATA_BACKEND_OVERRIDE = "database"
    switch("switch", "database", "--reason", "go", "--force")
    code, _, err = switch("rollback", "--reason", "r")
    assert code == 0 and "DATA_BACKEND_OVERRIDE=database is set" in err


# --- status --check, canary warnings, auto-rollback settings, maintenance ---------------------


def test_status_check__exits_1_with_the_reasons_when_a_switch_would_be_refused(export):
    code, _, err = switch("status", "--check")
    assert code == 1
    assert "a switch to the database would be refused" in err
    assert "no complete validate_migration run yet" in err
    command("validate_migration", str(export))
    assert switch("status", "--check")[0] == 0


def test_status_json__uses_camel_case_keys_only(export):
    document = json.loads(switch("status", "--format", "json")[1])

    def keys(value):
        if isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from keys(item)
        elif isinstance(value, list):
            for item in value:
                yield from keys(item)

    snake = sorted({k for k in keys(document) if "_" in k})
    assert snake == []
    assert document["state"]["thresholds"]["errorRatePercent"] == 10


def test_canary_enable__warns_on_an_empty_never_validated_database(settings, sample_export):
    settings.JSON_EXPORT_DIR = sample_export  # no backfill: the database is empty
    code, out, err = switch("canary", "enable", "--percent", "1", "--reason", "try")
    assert code == 0 and "canary on" in out
    assert "warning: the database holds no models: run backfill_json first" in err
    assert "warning: no complete validate_migration run yet" in err


def test_canary_enable__no_warning_once_loaded_and_validated(export):
    command("validate_migration", str(export))
    code, _, err = switch("canary", "enable", "--percent", "1", "--reason", "try")
    assert code == 0 and "warning" not in err


def test_auto_rollback__thresholds_are_set_shown_and_audited(export):
    code, out, _ = switch(
        "auto-rollback",
        "on",
        "--error-rate",
        "5",
        "--p95-ms",
        "1500",
        "--min-requests",
        "40",
        "--window",
        "120",
        "--reason",
        "tighter",
    )
    assert code == 0
    assert "error rate > 5%, p95 > 1500 ms, at least 40 database reads, over 120 s" in out
    state = runtime.stored_state()
    assert state.auto_rollback is True
    t = state.thresholds
    assert (t["error_rate"], t["p95_seconds"], t["min_requests"], t["window_seconds"]) == (
        0.05,
        1.5,
        40,
        120,
    )
    assert AuditEntry.objects.first().action == "auto-rollback settings"
    _, status_out, _ = switch("status")
    assert "auto-rollback:  on (error rate > 5%, p95 > 1500 ms" in status_out
    assert switch("auto-rollback", "--error-rate", "120", "--reason", "x")[0] == 2


def test_maintenance__on_and_off_are_audited_and_shown(export):
    code, out, _ = switch("maintenance", "on", "--reason", "schema change")
    assert code == 0 and "every write answers 503" in out
    assert "maintenance:    ON" in switch("status")[1]
    switch("maintenance", "off", "--reason", "done")
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert actions[:2] == ["maintenance off", "maintenance on"]
    assert switch("maintenance", "on")[0] != 0  # --reason is required


def test_switch_to_database__refused_while_dead_letters_are_unresolved(export):
    from migrator.models import DeadLetter

    command("validate_migration", str(export))
    DeadLetter.objects.create(store="database", operation={"kind": "status"}, error="refused")
    code, _, err = switch("switch", "database", "--reason", "go")
    assert code == 1 and "dead letters are unresolved (1 for database)" in err
