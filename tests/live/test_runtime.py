import pytest

from live import runtime
from migrator.models import AuditEntry
from tests.conftest import command, run_python

pytestmark = pytest.mark.django_db


def test_override__wins_over_the_state_row_and_is_audited_once(settings, monkeypatch):
    monkeypatch.setattr(runtime, "serving", True)  # as in a web worker
    command("switch_backend", "switch", "database", "--reason", "go", "--force")
    settings.DATA_BACKEND_OVERRIDE = "json"
    for _ in range(3):
        runtime.forget_state()
        state = runtime.current_state()
        assert (state.active, state.override, state.canary_enabled) == ("json", "json", False)
    entries = AuditEntry.objects.filter(action="override json")
    assert entries.count() == 1 and entries.get().actor == "environment"
    settings.DATA_BACKEND_OVERRIDE = ""
    runtime.forget_state()
    assert runtime.current_state().active == "database"
    assert AuditEntry.objects.filter(action="override cleared").count() == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("postgres", "database"), ("postgresql", "database"), ("github", "json"), ("JSON", "json")],
)
def test_override__accepts_the_seeds_aliases(value, expected):
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; "
        "django.setup(); from django.conf import settings; print(settings.DATA_BACKEND_OVERRIDE)",
        env={"DEBUG": "true", "DATA_BACKEND_OVERRIDE": value},
    )
    assert result.stdout.strip() == expected, result.stderr


def test_override__an_unknown_value_stops_start_up_naming_it():
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()",
        env={"DEBUG": "true", "DATA_BACKEND_OVERRIDE": "mongo"},
    )
    assert result.returncode != 0 and "DATA_BACKEND_OVERRIDE='mongo' is not valid" in result.stderr


def test_override__an_operator_command_reports_what_the_serving_workers_saw(settings):
    from migrator.models import BackendState

    command("switch_backend", "switch", "database", "--reason", "go", "--force")
    BackendState.objects.update(override_seen="json")  # a web worker reported it
    _, out, _ = command("switch_backend", "status")
    assert "reads:          json (DATA_BACKEND_OVERRIDE=json in the serving workers" in out
    assert not AuditEntry.objects.filter(actor="environment").exists()
