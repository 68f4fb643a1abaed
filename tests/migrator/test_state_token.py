"""The state token (migrator/state_token.py): an unchanged re-run of backfill_json is recognised
and reads nothing; every change a full pass would act on makes the next run a full one, which
repairs it. Same assertions on SQLite and PostgreSQL (the suite runs on either)."""

import json
import math

import pytest
from django.db import connection

from catalog.models import Model, ModelStatus, Provider
from migrator import state_token
from migrator.backfill import Backfill, Options
from migrator.models import BackfillRun, ModelAlias, RejectedRecord
from tests.conftest import command

pytestmark = pytest.mark.django_db


def run(export, *extra) -> tuple[int, dict]:
    code, out, err = command("backfill_json", str(export), "--format", "json", *extra)
    assert out, err
    return code, json.loads(out)


def skipped(document) -> bool:
    return bool(document["alreadyLoaded"] and document["alreadyLoaded"]["skipped"])


def validate(export) -> int:
    return command("validate_migration", str(export), "--format", "json")[0]


def _sql(statement: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def counts_without_seconds(document) -> dict:
    return {
        entity: {k: v for k, v in c.items() if k not in ("seconds", "rows_per_second")}
        for entity, c in document["entities"].items()
    }


def updated_stamps() -> list:
    return sorted(ModelStatus.objects.values_list("id", "updated_at"))


# --- the skip ----------------------------------------------------------------------------------


def test_unchanged_rerun__recognised_counts_as_a_full_pass_exit_as_before(sample_export):
    first_code, first = run(sample_export)
    assert first["alreadyLoaded"] == {
        "skipped": False,
        "reason": "no earlier run recorded a state token",
        "previousRun": None,
        "loadedBy": None,
    }
    assert first["stateToken"]["recorded"] is True
    stamps = updated_stamps()

    code, again = run(sample_export)
    assert skipped(again)
    assert again["alreadyLoaded"]["loadedBy"] == first["run"]
    assert code == first_code == 1  # the sample's rejects: exit status as the first run's
    assert any(note.startswith("already loaded:") for note in again["notes"])
    assert again["totals"]["inserted"] == again["totals"]["updated"] == 0
    assert again["totals"]["unchanged"] == 10 + 39 + 58
    assert again["totals"]["rejected"] == first["totals"]["rejected"] == 2
    assert {r["key"] for r in again["rejects"]} == {r["key"] for r in first["rejects"]}
    assert again["committedBatches"] == {}
    assert updated_stamps() == stamps
    assert [s["sha256"] for s in again["sources"]] == [s["sha256"] for s in first["sources"]]
    recorded = BackfillRun.objects.get(pk=again["run"])
    assert recorded.outcome == BackfillRun.Outcome.REJECTED
    assert recorded.state_token["recognised_from"] == first["run"]

    # --full reads the export anyway, and counts exactly what the skip said it would.
    code, full = run(sample_export, "--full")
    assert code == 1 and not skipped(full)
    assert full["alreadyLoaded"]["reason"] == "--full given"
    assert counts_without_seconds(full) == counts_without_seconds(again)
    assert full["stateToken"]["recorded"] is True
    # And the next run is recognised again (from the --full run's token).
    code, third = run(sample_export)
    assert skipped(third) and third["alreadyLoaded"]["loadedBy"] == full["run"]


def test_text_report__says_already_loaded(sample_export):
    run(sample_export)
    code, out, _ = command("backfill_json", str(sample_export))
    assert code == 1
    assert "already loaded: recognised as the state run #" in out
    assert "unchanged" in out and "rejected records (2):" in out


# --- what makes the next run a full one ------------------------------------------------------


def _status_update(sample_export):
    ModelStatus.objects.filter(model__slug="openai-gpt-4o").update(availability=12.345)


def _raw_sql_column(sample_export):
    _sql(
        "UPDATE catalog_modelstatus SET status = 'outage' WHERE model_id = "
        "(SELECT id FROM catalog_model WHERE slug = 'openai-o3')"
    )


def _metadata_key(sample_export):
    if connection.vendor == "postgresql":
        _sql(
            "UPDATE catalog_model SET metadata = metadata || '{\"probe\": 7}'::jsonb "
            "WHERE slug = 'openai-o3'"
        )
    else:
        _sql(
            "UPDATE catalog_model SET metadata = json_set(metadata, '$.probe', 7) "
            "WHERE slug = 'openai-o3'"
        )


def _model_renamed(sample_export):
    _sql("UPDATE catalog_model SET name = 'Renamed' WHERE slug = 'anthropic-claude-3.5-sonnet'")


def _float_last_digit(sample_export):
    # One unit in the last place: SQLite's own text of a double (15 digits) would not show it.
    status = ModelStatus.objects.get(model__slug="openai-gpt-4o", region="global")
    ModelStatus.objects.filter(pk=status.pk).update(availability=math.nextafter(98.29, 100))
    assert ModelStatus.objects.get(pk=status.pk).availability != 98.29


def _values_swapped_between_rows(sample_export):
    # Each row changes, the multiset of column values does not: a digest that combined a row's
    # values linearly would sum to what it was.
    first, second = ModelStatus.objects.exclude(availability=None).order_by("id")[:2]
    assert first.availability != second.availability
    ModelStatus.objects.filter(pk=first.pk).update(availability=second.availability)
    ModelStatus.objects.filter(pk=second.pk).update(availability=first.availability)


def _null_became_zero(sample_export):
    status = ModelStatus.objects.filter(error_rate=None).first()
    assert status is not None, "the sample has a status without an error rate"
    ModelStatus.objects.filter(pk=status.pk).update(error_rate=0.0)


def _metadata_object_became_a_list(sample_export):
    # jsonb's own hash takes {} and [] alike: the digest must not rely on it.
    status = ModelStatus.objects.filter(metadata={}).first()
    assert status is not None, "the sample has a status without extra keys"
    _sql("UPDATE catalog_modelstatus SET metadata = %s WHERE id = %s", ["[]", status.pk])


def _status_deleted(sample_export):
    ModelStatus.objects.filter(model__slug="openai-o3").delete()


def _provider_changed(sample_export):
    Provider.objects.filter(slug="openai").update(website_url="https://example.com")


@pytest.mark.parametrize(
    "change",
    [
        _status_update,
        _raw_sql_column,
        _metadata_key,
        _model_renamed,
        _float_last_digit,
        _values_swapped_between_rows,
        _null_became_zero,
        _metadata_object_became_a_list,
        _status_deleted,
        _provider_changed,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_row_changed_behind_the_apps_back__full_run_repairs_it(sample_export, change):
    run(sample_export)
    change(sample_export)
    assert validate(sample_export) == 1
    code, document = run(sample_export)
    assert code == 1 and not skipped(document)
    assert "changed since run #" in document["alreadyLoaded"]["reason"]
    repaired = document["totals"]["updated"] + document["totals"]["inserted"]
    assert repaired >= 1
    assert validate(sample_export) == 0
    # Repaired and recorded again: the next run is recognised.
    assert skipped(run(sample_export)[1])


def test_a_model_slug_renamed_in_sql__full_run(sample_export):
    run(sample_export)
    _sql("UPDATE catalog_model SET slug = 'renamed-slug' WHERE slug = 'openai-o3'")
    _code, document = run(sample_export)
    assert not skipped(document) and "stored models changed" in document["alreadyLoaded"]["reason"]
    assert Model.objects.filter(slug="openai-o3").exists()


def test_an_alias_added__full_run(sample_export):
    run(sample_export)
    ModelAlias.objects.create(alias="openai-gpt-5-preview", model_slug="openai-o3")
    _code, document = run(sample_export)
    assert not skipped(document)
    assert document["alreadyLoaded"]["reason"] == "model aliases changed"
    # The full pass used it: that key names a model now (no longer "unknown model").
    assert not any(r["reason"].startswith("unknown model") for r in document["rejects"])


def test_a_reject_deleted_in_the_admin__full_run_queues_it_again(sample_export):
    run(sample_export)
    RejectedRecord.objects.filter(record_key="deepseek-deepseek-r1@global").delete()
    _code, document = run(sample_export)
    assert not skipped(document)
    assert document["alreadyLoaded"]["reason"].startswith("the reject queue changed")
    assert RejectedRecord.objects.filter(record_key="deepseek-deepseek-r1@global").exists()
    assert skipped(run(sample_export)[1])


def test_the_previous_run_undone__full_run(sample_export):
    _, _first = run(sample_export)
    _, second = run(sample_export)
    assert skipped(second)
    assert command("backfill_json", "--undo", str(second["run"]))[0] == 0
    _code, document = run(sample_export)
    assert not skipped(document)
    assert "undid run #" in document["alreadyLoaded"]["reason"]


def test_a_first_load_undone__full_run_loads_again(sample_export):
    _, first = run(sample_export)
    assert command("backfill_json", "--undo", str(first["run"]))[0] == 0
    assert ModelStatus.objects.count() == 0
    _code, document = run(sample_export)
    assert not skipped(document) and document["totals"]["inserted"] == 107


def test_one_byte_changed_same_size__full_run(sample_export):
    run(sample_export)
    path = sample_export / "model-status.json"
    text = path.read_text()
    assert '"availability": 98.29' in text
    path.write_text(text.replace('"availability": 98.29', '"availability": 98.28', 1))
    _code, document = run(sample_export)
    assert not skipped(document)
    assert document["alreadyLoaded"]["reason"].startswith("model-status.json changed (sha256")
    assert document["totals"]["updated"] == 1


def test_prune_vs_not__full_run(sample_export):
    run(sample_export)
    _code, document = run(sample_export, "--prune")
    assert not skipped(document)
    assert document["alreadyLoaded"]["reason"].startswith("options that change the outcome")
    assert skipped(run(sample_export, "--prune")[1])
    assert not skipped(run(sample_export)[1])


def test_pipeline_code_changed__full_run(sample_export):
    _, first = run(sample_export)
    record = BackfillRun.objects.get(pk=first["run"])
    record.state_token = dict(record.state_token, pipeline="0" * 64)  # as an older release wrote
    record.save()
    _code, document = run(sample_export)
    assert document["alreadyLoaded"]["reason"] == "the pipeline's code changed since"


def test_a_dry_run__never_records_nor_breaks_the_chain(sample_export):
    _, dry = run(sample_export, "--dry-run")
    assert dry["alreadyLoaded"] is None and dry["stateToken"]["recorded"] is False
    assert BackfillRun.objects.get(pk=dry["run"]).state_token is None
    _, _first = run(sample_export)
    _code, dry = run(sample_export, "--dry-run")
    assert dry["alreadyLoaded"] is None and dry["totals"]["unchanged"] == 107  # read in full
    assert skipped(run(sample_export)[1])  # the dry run wrote nothing: still recognised


def test_only_and_retry_failed__never_record(sample_export):
    run(sample_export)
    _, only = run(sample_export, "--only", "statuses")
    assert only["alreadyLoaded"] is None
    assert BackfillRun.objects.get(pk=only["run"]).state_token is None
    _, document = run(sample_export)
    assert not skipped(document)  # the latest run recorded no token
    _code, out, _ = command("backfill_json", "--retry-failed", "--format", "json")
    retry = json.loads(out)
    assert retry["alreadyLoaded"] is None
    assert BackfillRun.objects.get(pk=retry["run"]).state_token is None
    assert not skipped(run(sample_export)[1])


def test_a_failed_run__never_records(sample_export):
    code, document = run(sample_export, "--max-rejects", "0")
    assert code == 2 and document["outcome"] == "failed"
    assert BackfillRun.objects.get(pk=document["run"]).state_token is None
    _, again = run(sample_export)
    assert not skipped(again) and again["stateToken"]["recorded"] is True
    # A limit the previous run's rejects exceed: the full pass runs, and stops as it should.
    code, limited = run(sample_export, "--max-rejects", "1")
    assert code == 2 and not skipped(limited)


def test_a_run_killed_midway__never_records(sample_export):
    class Killed(BaseException):
        pass

    def kill(export_file, done):
        if export_file.kind == "statuses":
            raise Killed

    backfill = Backfill(Options(sources=(str(sample_export),), batch_size=10), progress=kill)
    with pytest.raises(Killed):
        backfill.run()
    assert BackfillRun.objects.get(pk=backfill.run_record.pk).state_token is None
    _, document = run(sample_export)
    assert not skipped(document)


# --- the concurrency window ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_write_committed_after_its_batch_was_compared__no_token_then_repaired(sample_export):
    """Another writer changes a status of the first batch while the run reads the next ones:
    the rows the run matched no longer add up to its batches' digests, so no token is recorded
    (the write would otherwise be in the digest although the run never compared it). The
    statuses are loaded already: a first load into an empty table is one transaction that
    locks the table, and its digest is taken inside it (see the test below)."""
    command("backfill_json", str(sample_export))
    calls = []

    def write_meanwhile(export_file, done):
        if export_file.kind == "statuses":
            calls.append(done)
            if len(calls) == 3:  # batches 1 and 2 were compared and committed
                changed = ModelStatus.objects.filter(model__slug="openai-gpt-4o").update(
                    availability=12.5
                )
                assert changed == 1

    backfill = Backfill(
        Options(sources=(str(sample_export),), batch_size=10, full=True), progress=write_meanwhile
    )
    result = backfill.run()
    assert len(calls) >= 3
    assert not result.token_recorded
    assert any("no state token recorded: statuses" in note for note in result.notes)
    assert BackfillRun.objects.get(pk=result.run.pk).state_token is None
    assert validate(sample_export) == 1
    _code, document = run(sample_export)
    assert not skipped(document) and document["totals"]["updated"] == 1
    assert validate(sample_export) == 0
    assert skipped(run(sample_export)[1])


@pytest.mark.django_db(transaction=True)
def test_a_write_to_a_row_not_yet_compared__is_compared_and_the_token_kept(sample_export):
    """A write before the run reaches the row is compared (repaired) by the run: nothing to
    distrust, the token is recorded."""
    command("backfill_json", str(sample_export))

    def write_early(export_file, done):
        if export_file.kind == "providers" and not hasattr(write_early, "done"):
            write_early.done = True
            ModelStatus.objects.filter(model__slug="openai-o3").update(availability=1.5)

    result = Backfill(
        Options(sources=(str(sample_export),), batch_size=10, full=True), progress=write_early
    ).run()
    assert result.token_recorded and result.counts["statuses"].updated == 1
    assert skipped(run(sample_export)[1])


# --- validation never trusts the token ---------------------------------------------------------


def test_validate_migration__reads_the_export_whatever_the_token_says(sample_export):
    """A token forged to match a drifted database makes backfill_json skip (it trusts its
    record); validate_migration still reads the export and finds the difference."""
    _, first = run(sample_export)
    ModelStatus.objects.filter(model__slug="openai-gpt-4o").update(availability=12.345)
    record = BackfillRun.objects.get(pk=first["run"])
    forged = dict(record.state_token)
    forged["catalog"] = {
        entity: {"rows": f["rows"], "digest": f["digest"]}
        for entity, f in state_token.catalog_digest().items()
    }
    record.state_token = forged
    record.save()
    assert skipped(run(sample_export)[1])
    assert validate(sample_export) == 1


# --- the digest ----------------------------------------------------------------------------------


def test_catalog_digest__every_compared_column_counts_ids_and_timestamps_do_not(sample_export):
    run(sample_export)
    before = state_token.catalog_digest()
    ModelStatus.objects.update(updated_at="2020-01-01T00:00:00Z", source_hash="x")
    assert state_token.catalog_digest()["statuses"]["digest"] == before["statuses"]["digest"]
    for column, value in (("error_rate", 0.5), ("origin", "models_file"), ("checked_at", None)):
        status = (
            ModelStatus.objects.filter(**{f"{column}__isnull": False})
            .exclude(**{column: value})
            .first()
        )
        old = getattr(status, column)
        ModelStatus.objects.filter(pk=status.pk).update(**{column: value})
        assert state_token.catalog_digest()["statuses"]["digest"] != before["statuses"]["digest"]
        ModelStatus.objects.filter(pk=status.pk).update(**{column: old})
        assert state_token.catalog_digest()["statuses"]["digest"] == before["statuses"]["digest"]
    # The natural key of the parent: a status moved to another model.
    status = ModelStatus.objects.get(model__slug="openai-o3", region="global")
    other = Model.objects.exclude(statuses__region="global").first() or Model.objects.create(
        provider=Provider.objects.first(), slug="zz-new", name="zz"
    )
    ModelStatus.objects.filter(pk=status.pk).update(model=other)
    assert state_token.catalog_digest()["statuses"]["digest"] != before["statuses"]["digest"]


def test_a_first_load__digested_whole_inside_its_transaction_then_recognised(sample_export):
    """A first load of statuses (empty table: one transaction, the table locked) takes its
    statuses' digest inside that transaction; the next run is recognised, and a write after the
    first load makes the next one a full run again."""
    backfill = Backfill(Options(sources=(str(sample_export),)))
    result = backfill.run()
    assert set(backfill.tracker.whole) == {"statuses"}
    assert result.token_recorded
    token = BackfillRun.objects.get(pk=result.run.pk).state_token
    assert token["catalog"]["statuses"]["rows"] == ModelStatus.objects.count()
    assert (
        token["catalog"]["statuses"]["digest"]
        == (state_token.catalog_digest(entities={"statuses"})["statuses"]["digest"])
    )
    assert skipped(run(sample_export)[1])
    ModelStatus.objects.filter(model__slug="openai-o3").update(availability=1.5)
    _code, document = run(sample_export)
    assert not skipped(document) and document["totals"]["updated"] == 1
