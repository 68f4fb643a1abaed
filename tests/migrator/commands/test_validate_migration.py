"""validate_migration's options and messages, as an operator sees them."""

import pytest

from migrator.models import ValidationRun
from tests.conftest import command, count_rows, manage

pytestmark = pytest.mark.django_db


def validate(*args):
    return command("validate_migration", *[str(a) for a in args])


def test_unknown_entity__lists_the_plain_names():
    result = manage("validate_migration", "--entity", "bogus", database_url="sqlite://")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "manage.py validate_migration: error: argument --entity: unknown entity 'bogus': use "
        "providers, models, statuses"
    )


def test_before_any_backfill__hints_to_run_backfill_json_first(sample_export):
    code, _, err = validate(sample_export)
    assert code == 1
    assert err == (
        "the database and the export differ: 109 difference(s); the database holds none of "
        "these records: run `backfill_json` first"
    )


def test_differences_after_a_backfill__no_backfill_hint(sample_export):
    command("backfill_json", str(sample_export))
    (sample_export / "providers.json").write_text("[]")
    code, _, err = validate(sample_export, "--entity", "providers")
    assert code == 1
    assert "backfill_json" not in err


@pytest.mark.parametrize("flag", ["-v 2", "--verbose"])
def test_verbosity_2__prints_every_difference(sample_export, flag):
    _, short, _ = validate(sample_export)
    assert "differences (20 of 109 shown; -v 2 for all):" in short
    _, full, _ = validate(sample_export, *flag.split())
    assert "differences (109 of 109 shown):" in full
    listed = full.partition("differences (109 of 109 shown):")[2].strip().splitlines()
    assert len(listed) == 109


def test_output_in_a_missing_directory__refused_before_the_run(scratch_database):
    url = scratch_database()
    assert manage("migrate", "--noinput", "-v", "0", database_url=url).returncode == 0
    result = manage(
        "validate_migration", "--output", "/nonexistent/dir/report.json", database_url=url
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "manage.py validate_migration: error: argument --output: /nonexistent/dir/report.json: "
        "the directory /nonexistent/dir does not exist"
    )
    assert "Traceback" not in result.stderr
    assert count_rows(url, "migrator_validationrun") == 0


def test_output_file__holds_the_report(sample_export, tmp_path):
    target = tmp_path / "report.json"
    validate(sample_export, "--output", target)
    assert f'"run": {ValidationRun.objects.get().pk}' in target.read_text()
