"""backfill_json --undo RUN (migrator/undo.py): what a run inserted, updated and pruned is kept,
and undoing it brings the database back to its state before the run."""

import json

import pytest

from catalog.models import Model, ModelStatus, Provider
from migrator.backups import backup_database
from migrator.models import BackfillRun, InsertedRows, PrunedRow, RowImage
from tests.conftest import command

pytestmark = pytest.mark.django_db


def backfill(*args):
    code, out, err = command("backfill_json", *[str(a) for a in args], "--format", "json")
    return code, (json.loads(out) if out.strip() else None), err


def undo(run, *args):
    code, out, err = command("backfill_json", "--undo", str(run), *args, "--format", "json")
    return code, (json.loads(out) if out.strip() else None), err


def next_export(export):
    """The sample, changed: a model gone (pruned with its status), a model added, a
    description and an availability changed."""
    models = json.loads((export / "models.json").read_text())
    models["models"] = [m for m in models["models"] if m["name"] != "Titan Embeddings"]
    changed = next(m for m in models["models"] if m["name"] == "Claude 3 Opus")
    changed["description"] = "changed by the new export"
    added = dict(changed, id="new-model-1", name="Brand New Model")
    models["models"].append(added)
    (export / "models.json").write_text(json.dumps(models))
    statuses = json.loads((export / "model-status.json").read_text())
    statuses["statuses"]["openai-o3"]["availability"] = 42.0
    statuses["statuses"]["anthropic-brand-new-model"] = {"status": "outage", "availability": 1}
    (export / "model-status.json").write_text(json.dumps(statuses))


def test_undo_of_a_run_that_inserted_updated_and_pruned__equals_the_backup_before(
    sample_export, tmp_path
):
    backfill(sample_export)
    before = backup_database("default", tmp_path / "before.sqlite3", method="logical")
    stamps = dict(ModelStatus.objects.values_list("pk", "updated_at"))
    next_export(sample_export)
    _, document, _ = backfill(sample_export, "--prune")
    run = document["run"]
    counts = document["entities"]
    assert (counts["models"]["inserted"], counts["models"]["updated"]) == (1, 1)
    assert counts["models"]["pruned"] == 1 and counts["statuses"]["inserted"] == 1
    assert counts["statuses"]["updated"] == 1
    snapshot = f"sqlite:///{before.path}"
    assert command("validate_migration", "--against-database", snapshot)[0] == 1

    code, result, err = undo(run)
    assert code == 0, err
    assert result["undoes"] == run
    assert result["entities"]["models"] == {"deleted": 1, "restored": 1, "unpruned": 1}
    assert result["entities"]["statuses"]["deleted"] == 1
    assert result["entities"]["statuses"]["restored"] == 1
    code, out, _ = command("validate_migration", "--against-database", snapshot)
    assert code == 0, out
    # Ids and timestamps as they were, not only the values.
    assert dict(ModelStatus.objects.values_list("pk", "updated_at")) == stamps
    undo_run = BackfillRun.objects.get(pk=result["run"])
    assert undo_run.undoes_id == run and undo_run.outcome == "succeeded"
    assert not PrunedRow.objects.filter(run_id=run, restored_at__isnull=True).exists()


def test_first_load_keeps_one_small_record_a_batch__an_unchanged_rerun_nothing(sample_export):
    _, document, _ = backfill(sample_export, "--batch-size", "20")
    first = document["run"]
    kept = list(InsertedRows.objects.filter(run_id=first))
    assert sum(k.count for k in kept) == 107
    # Consecutive ids: one range per batch and entity, however many rows.
    assert all(len(k.id_ranges) == 1 for k in kept)
    assert not RowImage.objects.filter(run_id=first).exists()
    _, document, _ = backfill(sample_export)
    again = document["run"]
    assert not InsertedRows.objects.filter(run_id=again).exists()
    assert not RowImage.objects.filter(run_id=again).exists()


def test_an_update_keeps_the_row_before_and_after(sample_export):
    backfill(sample_export)
    ModelStatus.objects.filter(model__slug="openai-o3", region="global").update(availability=1)
    _, document, _ = backfill(sample_export)
    image = RowImage.objects.get(run_id=document["run"])
    assert image.entity == "statuses"
    assert (image.before["availability"], image.after["availability"]) == (1.0, 95.05)


def test_a_dry_run_keeps_nothing_and_cannot_be_undone(sample_export):
    _, document, _ = backfill(sample_export, "--dry-run")
    assert not InsertedRows.objects.exists()
    code, _, err = undo(document["run"])
    assert code == 2 and "was a dry run" in err


def test_undo_twice__refused_naming_the_first_undo(sample_export):
    backfill(sample_export)
    next_export(sample_export)
    _, document, _ = backfill(sample_export)
    _, first, _ = undo(document["run"])
    code, _, err = undo(document["run"])
    assert code == 2 and f"undone already, by run #{first['run']}" in err


def test_undo_under_a_later_run__refused_unless_forced(sample_export):
    _, document, _ = backfill(sample_export)
    first = document["run"]
    next_export(sample_export)
    _, document, _ = backfill(sample_export)
    code, _, err = undo(first)
    assert code == 2 and f"#{document['run']} wrote rows after run #{first}" in err
    assert Provider.objects.count() == 10  # nothing changed
    # Newest first works: then the first load can go too, leaving an empty catalog.
    assert undo(document["run"])[0] == 0
    code, _, err = undo(first)
    assert code == 0, err
    assert (Provider.objects.count(), Model.objects.count(), ModelStatus.objects.count()) == (
        0,
        0,
        0,
    )


def test_unknown_run__exit_2():
    code, _, err = undo(999)
    assert code == 2 and "no backfill run #999" in err


def test_admin_shows_before_and_after_per_run(sample_export, admin_client_logged_in):
    backfill(sample_export)
    ModelStatus.objects.filter(model__slug="openai-o3", region="global").update(availability=1)
    _, document, _ = backfill(sample_export)
    page = admin_client_logged_in.get(f"/admin/migrator/backfillrun/{document['run']}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "0 row(s) inserted, 1 updated (1 shown), 0 pruned." in html
    assert "<td>availability</td><td><code>1.0</code></td><td><code>95.05</code></td>" in html
    listing = admin_client_logged_in.get("/admin/migrator/rowimage/")
    assert listing.status_code == 200


def test_a_failed_undo__recorded_as_failed_and_can_be_tried_again(sample_export):
    """A model added since (by hand) under a provider the run inserted blocks the undo: it is
    refused, changes nothing, and once the blocker is gone the undo is possible again."""
    _, document, _ = backfill(sample_export)
    run = document["run"]
    provider = Provider.objects.get(slug="openai")  # inserted by the run
    blocker = Model.objects.create(provider=provider, slug="openai-by-hand", name="By hand")
    counts = (Provider.objects.count(), Model.objects.count(), ModelStatus.objects.count())

    code, _, err = undo(run)
    assert code == 2 and f"cannot undo run #{run}" in err and "nothing was changed" in err
    assert (Provider.objects.count(), Model.objects.count(), ModelStatus.objects.count()) == counts
    failed = BackfillRun.objects.filter(arguments__undo=run).get()
    assert failed.outcome == BackfillRun.Outcome.FAILED and failed.undoes_id is None

    blocker.delete()
    code, result, err = undo(run)
    assert code == 0, err
    assert result["undoes"] == run
    assert Provider.objects.count() == Model.objects.count() == ModelStatus.objects.count() == 0


def test_undo__the_undone_run_s_envelope_is_no_longer_the_latest(sample_export):
    """export_json writes the kept envelope back: after an undo it is the envelope of the
    export loaded before the undone run again."""
    from migrator.envelope import latest_envelope

    backfill(sample_export)
    before = latest_envelope("models")
    models = json.loads((sample_export / "models.json").read_text())
    models["metadata"] = {"version": "2.0", "generated": "2030-01-01T00:00:00Z"}
    (sample_export / "models.json").write_text(json.dumps(models))
    _, document, _ = backfill(sample_export)
    assert latest_envelope("models")["metadata"]["version"] == "2.0"
    code, _, err = undo(document["run"])
    assert code == 0, err
    assert latest_envelope("models") == before
