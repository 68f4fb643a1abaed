"""backfill_json's messages and exit statuses, as an operator sees them."""

import pytest

from catalog.models import Model, ModelStatus
from migrator.models import BackfillRun, RejectedRecord
from tests.conftest import command, manage

pytestmark = pytest.mark.django_db


def backfill(*args):
    return command("backfill_json", *[str(a) for a in args])


@pytest.fixture
def migrated(scratch_database):
    url = scratch_database()
    result = manage("migrate", "--noinput", "-v", "0", database_url=url)
    assert result.returncode == 0, result.stderr
    return url


def test_dry_run_with_rejects__does_not_claim_to_keep_them(sample_export):
    code, _, err = backfill(sample_export, "--dry-run")
    assert code == 1
    assert err == (
        "2 record(s) would be rejected; a dry run keeps nothing (run without --dry-run to keep "
        "them in the reject queue)."
    )
    assert not RejectedRecord.objects.exists()


def test_missing_source__one_line_that_says_nothing_was_written(migrated):
    result = manage("backfill_json", "/nonexistent", database_url=migrated)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "CommandError: /nonexistent: no such file or directory. Fix the source and run the "
        "command again: it completes the load. Nothing was written."
    )
    log = next(line for line in result.stderr.splitlines() if "event=backfill_finished" in line)
    assert "sources=none" in log and "reject-queue" not in log
    assert "committed batches: none" in result.stdout
    assert "Traceback" not in result.stderr


def test_negative_max_rejects__refused_by_the_argument_parser(migrated):
    result = manage("backfill_json", "--dry-run", "--max-rejects", "-1", database_url=migrated)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "manage.py backfill_json: error: argument --max-rejects: '-1' is not a whole number, "
        "0 or more"
    )


def test_max_rejects_in_a_dry_run__says_once_that_it_stopped_and_that_nothing_was_written(
    sample_export,
):
    code, out, err = backfill(sample_export, "--dry-run", "--max-rejects", "0")
    assert code == 2
    assert "stopped: stopped:" not in out
    # Both statuses are rejected in the one batch the dry run's statuses make.
    assert "stopped: 2 record(s) rejected, more than --max-rejects 0" in out
    assert "committed batches: nothing (dry run)" in out
    assert err == "2 record(s) rejected, more than --max-rejects 0. Nothing was written (dry run)."
    assert BackfillRun.objects.get().committed_batches == {}


def test_max_rejects__a_first_load_of_statuses_keeps_none_of_them(sample_export):
    code, out, err = backfill(sample_export, "--max-rejects", "0", "--batch-size", "10")
    assert code == 2
    assert err == (
        "1 record(s) rejected, more than --max-rejects 0. The 5 batch(es) committed before it "
        "are kept. The rejects were rolled back with the records of their batches."
    )
    assert "committed batches: providers.json: 1, models.json: 4\n" in out
    assert Model.objects.count() == 39 and not ModelStatus.objects.exists()
    assert not RejectedRecord.objects.exists()


def test_max_rejects__counts_the_batches_it_kept(sample_export):
    # Statuses in the table already: batches commit one by one (not a first load).
    backfill(sample_export)
    ModelStatus.objects.filter(model__slug__startswith="openai").delete()
    RejectedRecord.objects.all().delete()
    code, out, err = backfill(sample_export, "--max-rejects", "0", "--batch-size", "10")
    assert code == 2
    assert err == (
        "1 record(s) rejected, more than --max-rejects 0. The 10 batch(es) committed before it "
        "are kept. The rejects are in the admin (Rejected records)."
    )
    # The first reject is a status (the sample's duplicate model is merged, not rejected).
    assert "committed batches: providers.json: 1, models.json: 4, model-status.json: 5" in out
    assert Model.objects.count() == 39  # the models' batches: what the message counts
    assert RejectedRecord.objects.count() == 1


def test_malformed_file__sentences_apart_and_the_batches_kept_counted(sample_export):
    path = sample_export / "model-status.json"
    path.write_bytes(path.read_bytes()[:5000])
    code, _, err = backfill(sample_export, "--batch-size", "10")
    assert code == 2
    assert "premature EOF" in err
    assert ". Fix the source and run the command again: it completes the load. The " in err
    assert err.endswith("batch(es) committed before it are kept.")
