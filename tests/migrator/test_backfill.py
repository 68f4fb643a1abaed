import datetime as dt
import json

import pytest
from django.db import connection

from catalog.models import Model, ModelStatus, Provider
from migrator.models import BackfillRun, ExportEnvelope, PrunedRow, RejectedRecord
from tests.conftest import command
from tests.snapshots import catalog_snapshot, updated_stamps

pytestmark = pytest.mark.django_db


def backfill(*args):
    return command("backfill_json", *[str(a) for a in args])


def edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def entities(out: str) -> dict:
    """The per-entity counts of a ``--format json`` report, with their total."""
    document = json.loads(out)["entities"]
    names = (
        "read",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        "merged",
        "pruned",
        "absent",
        "warnings",
    )
    table = {entity: {k: counts[k] for k in names} for entity, counts in document.items()}
    table["total"] = {k: sum(row[k] for row in list(table.values())) for k in names}
    return table


def counts(out: str) -> dict:
    """The summary table's rows, by entity."""
    table = {}
    for line in out.splitlines():
        cells = line.split()
        if (
            cells
            and cells[0] in ("providers", "models", "statuses", "total")
            and len(cells) == 12
            and cells[1].isdigit()
        ):
            names = (
                "read",
                "inserted",
                "updated",
                "unchanged",
                "rejected",
                "merged",
                "pruned",
                "absent",
                "warnings",
            )
            table[cells[0]] = dict(zip(names, map(int, cells[1:10]), strict=True))
    return table


# --- the sample and its messy cases --------------------------------------------------------


def test_sample__loads_with_each_messy_case_as_documented(sample_export):
    code, out, err = backfill(sample_export)
    assert code == 1, err  # records were rejected
    table = counts(out)
    assert table["providers"] == {
        "read": 10,
        "inserted": 10,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "merged": 0,
        "pruned": 0,
        "absent": 0,
        "warnings": 0,
    }
    assert table["models"]["inserted"] == 39 and table["models"]["merged"] == 1
    assert table["models"]["rejected"] == 0 and table["models"]["warnings"] == 1
    # 58 statuses of model-status.json, and the own statuses of the two models it has none for.
    assert table["statuses"]["read"] == 60
    assert table["statuses"]["inserted"] == 58 and table["statuses"]["rejected"] == 2
    # The empty status, p99 < p95, and the 14 models whose status value model-status.json and
    # models.json state differently (model-status.json wins).
    assert table["statuses"]["warnings"] == 16
    assert Provider.objects.count() == 10
    assert Model.objects.count() == 39
    assert ModelStatus.objects.count() == 58

    # A provider models.json uses but providers.json lacks: made from the embedded object.
    mistral = Provider.objects.get(slug="mistral")
    assert (mistral.name, mistral.website_url, mistral.source_id) == (
        "Mistral AI",
        "https://mistral.ai",
        "",
    )
    # Two records of one model (names equal but for punctuation): merged into the first.
    gpt = Model.objects.get(slug="openai-gpt-4o")
    assert gpt.name == "GPT-4o"
    assert not RejectedRecord.objects.filter(entity="models").exists()
    merged = ExportEnvelope.objects.get(kind="models").merged
    assert [(m["position"], m["into"], m["record"]["name"]) for m in merged] == [
        ("#3", "#0", "GPT 4o")
    ]
    # A model model-status.json has no status for: its own (models.json) is its global status.
    jamba = ModelStatus.objects.get(model__slug="ai21-jamba-1.5-large")
    assert (jamba.status, jamba.availability, jamba.origin) == ("operational", 98.8, "models_file")
    # A status for no model, and a value out of range: rejected with their reasons.
    unknown = RejectedRecord.objects.get(
        entity="statuses", record_key="openai-gpt-5-preview@global"
    )
    assert "unknown model" in unknown.reason
    out_of_range = RejectedRecord.objects.get(record_key="deepseek-deepseek-r1@global")
    assert out_of_range.field == "availability" and "101.5" in out_of_range.reason
    # An empty status object: unknown, in region global, nothing measured.
    empty = ModelStatus.objects.get(model__slug="cohere-embed-v3")
    assert (empty.status, empty.region, empty.availability) == ("unknown", "global", None)
    # Percentiles out of order: loaded as given, with a warning.
    gemma = ModelStatus.objects.get(model__slug="google-gemma-2-27b")
    assert (gemma.latency_p95, gemma.latency_p99) == (420, 310)
    assert "google-gemma-2-27b: latencyP99 310 < latencyP95 420" in out
    # An offset instead of Z is the same instant.
    opus = ModelStatus.objects.get(model__slug="anthropic-claude-3-opus")
    assert opus.checked_at == dt.datetime(2025, 8, 14, 13, 2, 45, 715000, tzinfo=dt.UTC)
    # Several regions: one row each.
    assert ModelStatus.objects.filter(model__slug="openai-whisper-v3").count() == 8
    # Models model-status.json has no status for: their own (models.json) is their status.
    assert ModelStatus.objects.filter(model__slug="ai21-jamba-1.5-large").count() == 1


def test_sample__unmapped_fields_are_kept_in_metadata(sample_export):
    backfill(sample_export)
    anthropic = Provider.objects.get(slug="anthropic")
    assert anthropic.metadata["supportEmail"] == "support@anthropic.example"
    assert anthropic.metadata["metadata"] == {"established": 2021, "type": "commercial"}
    priced = Model.objects.filter(metadata__currency="USD")
    assert priced.count() == 8
    assert all(m.input_price == 2.5 and m.output_price == 10 for m in priced)
    grok = ModelStatus.objects.get(model__slug="xai-grok-3")
    assert grok.metadata == {"probe": {"host": "probe-7", "version": "2.4.1"}}
    gpt = Model.objects.get(slug="openai-gpt-4o")
    assert gpt.metadata["provider"] == {
        "id": "openai",
        "name": "OpenAI",
        "website": "https://openai.com",
    }
    assert set(gpt.metadata) >= {"status", "availability", "lastUpdate", "createdAt"}
    odd_ids = Model.objects.filter(source_id__contains="-bwbccym")
    assert odd_ids.count() == 5
    assert all(m.source_id.count("-") == 1 for m in odd_ids)  # not UUIDs: kept as given


# --- idempotency and changes ---------------------------------------------------------------


def test_second_run__reports_everything_unchanged_and_moves_no_updated_at(sample_export):
    backfill(sample_export)
    before, stamps = catalog_snapshot(), updated_stamps()
    # --full: the export read and compared (not recognised as already loaded, which
    # tests/migrator/test_state_token.py covers).
    code, out, _ = backfill(sample_export, "--format", "json", "--full")
    assert code == 1
    table = entities(out)
    assert table["total"]["inserted"] == table["total"]["updated"] == 0
    assert table["total"]["unchanged"] == 10 + 39 + 58
    assert catalog_snapshot() == before
    assert updated_stamps() == stamps
    assert RejectedRecord.objects.count() == 2
    assert set(RejectedRecord.objects.values_list("attempts", flat=True)) == {2}


def test_changed_record__is_updated_alone(sample_export):
    backfill(sample_export)
    stamps = updated_stamps()
    edit(
        sample_export / "model-status.json",
        lambda d: d["statuses"]["openai-o3"].update(status="outage", availability=12.5),
    )
    code, out, _ = backfill(sample_export, "--format", "json")
    assert code == 1
    table = entities(out)
    assert table["statuses"]["updated"] == 1
    assert table["statuses"]["unchanged"] == 57
    row = ModelStatus.objects.get(model__slug="openai-o3")
    assert (row.status, row.availability) == ("outage", 12.5)
    after = updated_stamps()
    moved = {k for k in after["statuses"] if after["statuses"][k] != stamps["statuses"][k]}
    assert moved == {("openai-o3", "global")}


def test_reformatted_record_with_equal_values__is_unchanged(sample_export):
    backfill(sample_export)
    stamps = updated_stamps()
    # Same values, other key order and number spelling: the fingerprint differs, the row does not.
    edit(
        sample_export / "model-status.json",
        lambda d: d["statuses"].update(
            {"openai-o3": dict(reversed(list(d["statuses"]["openai-o3"].items())))}
        ),
    )
    code, out, _ = backfill(sample_export, "--format", "json")
    assert code == 1
    table = entities(out)
    assert table["statuses"]["updated"] == 0 and table["statuses"]["unchanged"] == 58
    assert updated_stamps() == stamps


def test_fixed_reject__loads_in_the_next_run_and_leaves_the_queue(sample_export):
    backfill(sample_export)
    edit(
        sample_export / "model-status.json",
        lambda d: d["statuses"]["deepseek-deepseek-r1"].update(availability=99.0),
    )
    backfill(sample_export)
    assert ModelStatus.objects.get(model__slug="deepseek-deepseek-r1").availability == 99.0
    assert not RejectedRecord.objects.filter(record_key="deepseek-deepseek-r1@global").exists()
    assert RejectedRecord.objects.count() == 1


# --- safe modes ----------------------------------------------------------------------------


def test_dry_run__writes_nothing_and_reports_what_a_real_run_would(sample_export):
    code, dry, _ = backfill(sample_export, "--dry-run")
    assert code == 1
    assert not Provider.objects.exists() and not ModelStatus.objects.exists()
    assert not RejectedRecord.objects.exists()
    assert BackfillRun.objects.get().dry_run is True
    _, real, _ = backfill(sample_export)
    assert counts(dry) == counts(real)


def test_dry_run__after_a_change_reports_the_update_and_keeps_the_old_value(sample_export):
    backfill(sample_export)
    edit(
        sample_export / "model-status.json",
        lambda d: d["statuses"]["openai-o3"].update(availability=50.0),
    )
    _, out, _ = backfill(sample_export, "--dry-run", "--format", "json")
    assert entities(out)["statuses"]["updated"] == 1
    assert ModelStatus.objects.get(model__slug="openai-o3").availability != 50.0


def test_absent_rows__are_counted_and_kept_without_prune(sample_export):
    backfill(sample_export)
    edit(sample_export / "model-status.json", lambda d: d["statuses"]["openai-whisper-v3"].pop())
    _, out, _ = backfill(sample_export, "--format", "json")
    assert entities(out)["statuses"]["absent"] == 1
    assert ModelStatus.objects.filter(model__slug="openai-whisper-v3").count() == 8


def test_prune__archives_then_deletes_what_the_export_no_longer_holds(sample_export):
    backfill(sample_export)
    before = catalog_snapshot()

    def drop_model(d):
        d["models"] = [m for m in d["models"] if m["name"] != "Nova Lite"]

    edit(sample_export / "models.json", drop_model)
    edit(sample_export / "model-status.json", lambda d: d["statuses"]["openai-whisper-v3"].pop())
    code, out, _ = backfill(sample_export, "--prune", "--format", "json")
    assert code == 1  # the sample's two rejects
    table = entities(out)
    assert table["models"]["pruned"] == 1
    # The pruned model's own status, and one region of whisper.
    assert table["statuses"]["pruned"] == 2
    assert not Model.objects.filter(slug="amazon-nova-lite").exists()
    assert ModelStatus.objects.filter(model__slug="openai-whisper-v3").count() == 7
    archived = PrunedRow.objects.order_by("entity", "natural_key")
    assert [(p.entity, p.natural_key) for p in archived] == [
        ("models", "amazon-nova-lite"),
        ("statuses", "amazon-nova-lite@global"),
        ("statuses", "openai-whisper-v3@ap-northeast-1"),
    ]
    model_row = archived[0].row
    assert model_row["name"] == "Nova Lite" and "id" in model_row and "created_at" in model_row
    # The archive is enough to undo the prune.
    from migrator.prune import pruned_rows_restore

    pruned_rows_restore(pruned_rows=list(archived))
    after = catalog_snapshot()
    assert after == before
    assert PrunedRow.objects.filter(restored_at__isnull=True).count() == 0


def test_prune_dry_run__reports_and_keeps(sample_export):
    backfill(sample_export)
    edit(sample_export / "model-status.json", lambda d: d["statuses"]["openai-whisper-v3"].pop())
    _, out, _ = backfill(sample_export, "--prune", "--dry-run", "--format", "json")
    assert entities(out)["statuses"]["pruned"] == 1
    assert ModelStatus.objects.filter(model__slug="openai-whisper-v3").count() == 8
    assert not PrunedRow.objects.exists()


def test_only__loads_the_named_entities(sample_export):
    code, _, _ = backfill(sample_export, "--only", "providers")
    assert code == 0
    assert Provider.objects.count() == 9 and not Model.objects.exists()
    backfill(sample_export, "--only", "models,statuses")
    assert Model.objects.count() == 39 and ModelStatus.objects.count() == 58
    assert Provider.objects.count() == 10


def test_only__rejects_an_unknown_entity(sample_export):
    code, _, err = backfill(sample_export, "--only", "widgets")
    assert code != 0
    assert "unknown entity 'widgets'" in err
    assert not BackfillRun.objects.exists()


def test_max_rejects__stops_the_run(sample_export):
    code, _, err = backfill(sample_export, "--max-rejects", "1", "--batch-size", "10")
    assert code == 2
    assert "more than --max-rejects 1" in err
    run = BackfillRun.objects.get()
    assert run.outcome == "failed" and "max-rejects" in run.error


# --- --atomic and malformed files ----------------------------------------------------------


def truncate(path, keep=0.6):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_atomic__a_late_error_rolls_back_the_whole_run(sample_export):
    truncate(sample_export / "model-status.json")
    code, _, err = backfill(sample_export, "--atomic")
    assert code == 2
    assert "model-status.json" in err and "malformed JSON" in err
    assert not Provider.objects.exists() and not Model.objects.exists()
    assert not ModelStatus.objects.exists() and not RejectedRecord.objects.exists()
    run = BackfillRun.objects.get()
    assert run.outcome == "failed" and run.committed_batches == {
        "providers.json": 0,
        "models.json": 0,
        "model-status.json": 0,
    }


def status_indexes() -> set[str]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, ModelStatus._meta.db_table)
    return {name for name, about in found.items() if about["index"] or about["unique"]}


def test_truncated_file__a_first_load_of_statuses_keeps_nothing_of_them(sample_export):
    """Statuses into an empty table load in one transaction: a failure keeps none of them, and
    the indexes dropped for the load are all there again."""
    indexes = status_indexes()
    assert {"catalog_status_checked_at", "catalog_status_region"} <= indexes
    good = (sample_export / "model-status.json").read_bytes()
    truncate(sample_export / "model-status.json")
    code, out, err = backfill(sample_export, "--batch-size", "10")
    assert code == 2
    assert "model-status.json: malformed JSON within its first" in err
    assert "after record" in err and "premature EOF" in err
    assert "committed batches: providers.json: 1, models.json: 4\n" in out
    assert BackfillRun.objects.get().committed_batches["model-status.json"] == 0
    assert Model.objects.count() == 39 and not ModelStatus.objects.exists()
    assert status_indexes() == indexes
    (sample_export / "model-status.json").write_bytes(good)
    backfill(sample_export, "--batch-size", "10")
    assert ModelStatus.objects.count() == 58


def test_truncated_file__keeps_committed_batches_and_a_rerun_completes(sample_export, tmp_path):
    """Into a table that holds statuses, each batch commits on its own."""
    good = (sample_export / "model-status.json").read_bytes()
    backfill(sample_export, "--batch-size", "10")
    ModelStatus.objects.exclude(model__slug__startswith="openai").delete()
    kept = ModelStatus.objects.count()
    assert 0 < kept < 58
    truncate(sample_export / "model-status.json")
    code, out, err = backfill(sample_export, "--batch-size", "10")
    assert code == 2
    assert "model-status.json: malformed JSON within its first" in err
    assert "after record" in err and "premature EOF" in err
    assert "committed batches: providers.json: 1, models.json: 4, model-status.json: 3" in out
    assert Model.objects.count() == 39
    partial = ModelStatus.objects.count()
    assert kept < partial < 58
    (sample_export / "model-status.json").write_bytes(good)
    backfill(sample_export, "--batch-size", "10")
    assert ModelStatus.objects.count() == 58


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("providers.json", '{"slug": "x"}', "providers.json must hold a JSON array"),
        ("models.json", '{"metadata": {}, "items": []}', "models.json has no 'models' member"),
        ("models.json", '"models"', "must hold a JSON object with a 'models' member"),
        ("model-status.json", '{"statuses": []}', "'statuses' must be a JSON object"),
        ("providers.json", '[{"slug": "a"},, ]', "malformed JSON"),
        ("models.json", "", "models.json is empty"),
    ],
)
def test_wrong_shape_or_syntax__is_a_command_error_naming_the_file(
    sample_export, file, content, message
):
    (sample_export / file).write_text(content)
    code, _, err = backfill(sample_export / file)
    assert code == 2
    assert message in err
    assert str(sample_export / file) in err


def test_zero_models__is_a_valid_export(sample_export):
    edit(sample_export / "models.json", lambda d: d.update(models=[]))
    code, out, _ = backfill(
        sample_export / "providers.json", sample_export / "models.json", "--format", "json"
    )
    assert code == 0
    assert entities(out)["models"]["read"] == 0
    # mistral, named only in the envelope's providers list now, is a provider row all the same.
    assert Provider.objects.count() == 10


def test_missing_source__is_a_command_error(tmp_path):
    code, _, err = backfill(tmp_path / "nope")
    assert code == 2 and "no such file or directory" in err
    code, _, err = backfill(tmp_path)
    assert code == 2 and "no export file in this directory" in err


# --- rejects -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"availability": "high"}, "availability", "availability must be a number"),
        ({"status": "down"}, "status", "status must be one of"),
        ({"checkedAt": "yesterday"}, "checkedAt", "not an ISO 8601 timestamp"),
        ({"requestsPerMin": -4}, "requestsPerMin", "must not be negative"),
        ({"tokensPerMin": 1.5}, "tokensPerMin", "must be a whole number"),
        ({"region": 7}, "region", "region must be a string, got int"),
    ],
)
def test_bad_field__rejects_the_record_naming_the_field(sample_export, change, field, reason):
    edit(sample_export / "model-status.json", lambda d: d["statuses"]["openai-o3"].update(change))
    backfill(sample_export)
    reject = RejectedRecord.objects.get(position="openai-o3")
    assert reject.field == field and reason in reject.reason
    assert reject.raw["availability"] == change.get("availability", reject.raw["availability"])
    assert not ModelStatus.objects.filter(model__slug="openai-o3").exists()


def test_duplicate_status_key__rejects_the_second(sample_export):
    text = (sample_export / "model-status.json").read_text()
    text = text.replace('"statuses": {', '"statuses": {"openai-o3": {"status": "outage"}, ', 1)
    (sample_export / "model-status.json").write_text(text)
    backfill(sample_export)
    assert ModelStatus.objects.get(model__slug="openai-o3").status == "outage"
    assert RejectedRecord.objects.filter(reason__startswith="duplicate key 'openai-o3'").exists()


def test_retry_failed__loads_what_now_can_and_keeps_the_rest(sample_export):
    backfill(sample_export)
    provider = Provider.objects.get(slug="openai")
    Model.objects.create(provider=provider, slug="openai-gpt-5-preview", name="GPT-5 preview")
    code, out, _ = backfill("--retry-failed", "--format", "json")
    assert code == 1
    table = entities(out)
    assert table["statuses"]["read"] == 2
    assert table["statuses"]["inserted"] == 1 and table["statuses"]["rejected"] == 1
    assert ModelStatus.objects.filter(model__slug="openai-gpt-5-preview").count() == 1
    assert not RejectedRecord.objects.filter(record_key="openai-gpt-5-preview@global").exists()
    still = RejectedRecord.objects.get(record_key="deepseek-deepseek-r1@global")
    assert still.attempts == 2


# --- output and the run record -------------------------------------------------------------


def test_format_json__matches_the_text_summary(sample_export):
    _, text, _ = backfill(sample_export, "--dry-run")
    code, out, _ = backfill(sample_export, "--dry-run", "--format", "json")
    assert code == 1
    document = json.loads(out)
    for entity, row in counts(text).items():
        if entity == "total":
            continue
        assert {k: document["entities"][entity][k] for k in row} == row
    assert document["dryRun"] is True
    assert {r["reason"][:14] for r in document["rejects"]} == {"unknown model ", "availability m"}
    assert [s["file"] for s in document["sources"]] == [
        "providers.json",
        "models.json",
        "model-status.json",
    ]


def test_run_record__keeps_arguments_sources_counts_and_outcome(sample_export):
    import hashlib

    backfill(sample_export, "--batch-size", "7")
    run = BackfillRun.objects.get()
    assert run.outcome == "rejected" and run.finished_at >= run.started_at
    assert run.arguments["batch_size"] == 7
    status_file = sample_export / "model-status.json"
    described = next(s for s in run.sources if s["file"] == "model-status.json")
    assert described["sha256"] == hashlib.sha256(status_file.read_bytes()).hexdigest()
    assert described["size"] == status_file.stat().st_size
    assert run.counts["statuses"]["inserted"] == 58
    batches = run.committed_batches
    assert (batches["providers.json"], batches["models.json"]) == (2, 6)  # 7 + 2; 5 x 7 + 4
    assert 1 < batches["model-status.json"] <= 9  # whole models per batch, at least 7 rows each


# --- direction: once reads come from the database, an older status never replaces a newer one --


def _newer_api_write():
    """openai-o3@global as a monitor wrote it after the export was taken."""
    ModelStatus.objects.filter(model__slug="openai-o3", region="global").update(
        availability=99.99, checked_at=dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    )


def _stored_o3():
    return ModelStatus.objects.values_list("availability", "checked_at").get(
        model__slug="openai-o3", region="global"
    )


def test_reads_from_database__an_older_status_is_skipped_as_stale(sample_export, settings):
    backfill(sample_export)
    _newer_api_write()
    settings.DATA_BACKEND = "database"  # reads come from the database: it is the truth
    code, out, err = backfill(sample_export, "--format", "json")
    assert code == 1, err  # the sample's deliberate rejects
    counts = json.loads(out)["entities"]["statuses"]
    assert (counts["stale"], counts["updated"]) == (1, 0)
    assert json.loads(out)["totals"]["stale"] == 1
    assert _stored_o3() == (99.99, dt.datetime(2026, 11, 22, tzinfo=dt.UTC))
    _, text, _ = backfill(sample_export)
    assert "stale: 1 status(es) older than the stored row, skipped" in text


def test_reads_from_database__a_newer_status_still_loads(sample_export, settings):
    backfill(sample_export)
    ModelStatus.objects.filter(model__slug="openai-o3", region="global").update(
        availability=12.5, checked_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    )
    settings.DATA_BACKEND = "database"
    _, out, _ = backfill(sample_export, "--format", "json")
    counts = json.loads(out)["entities"]["statuses"]
    assert (counts["stale"], counts["updated"]) == (0, 1)
    assert _stored_o3()[0] == 95.05


def test_reads_from_database__a_status_without_checked_at_is_not_newer(sample_export, settings):
    backfill(sample_export)
    _newer_api_write()
    edit(
        sample_export / "model-status.json",
        lambda d: d["statuses"]["openai-o3"].pop("checkedAt"),
    )
    settings.DATA_BACKEND = "database"
    _, out, _ = backfill(sample_export, "--format", "json")
    assert json.loads(out)["entities"]["statuses"]["stale"] == 1
    assert _stored_o3()[0] == 99.99


def test_reads_from_database__force_writes_the_older_status(sample_export, settings):
    backfill(sample_export)
    _newer_api_write()
    settings.DATA_BACKEND = "database"
    _, out, _ = backfill(sample_export, "--force", "--format", "json")
    counts = json.loads(out)["entities"]["statuses"]
    assert (counts["stale"], counts["updated"]) == (0, 1)
    assert _stored_o3()[0] == 95.05


def test_reads_from_json__the_export_wins_as_before(sample_export):
    backfill(sample_export)
    _newer_api_write()
    _, out, _ = backfill(sample_export, "--format", "json")
    counts = json.loads(out)["entities"]["statuses"]
    assert (counts["stale"], counts["updated"]) == (0, 1)
    assert _stored_o3()[0] == 95.05


def test_reads_switched_to_database__the_state_row_decides(sample_export):
    backfill(sample_export)
    _newer_api_write()
    code, _, err = command("switch_backend", "switch", "database", "--reason", "t", "--force")
    assert code == 0, err
    _, out, _ = backfill(sample_export, "--format", "json")
    assert json.loads(out)["entities"]["statuses"]["stale"] == 1
    command("switch_backend", "rollback", "--reason", "back")
    _, out, _ = backfill(sample_export, "--format", "json")
    assert json.loads(out)["entities"]["statuses"]["stale"] == 0
    assert _stored_o3()[0] == 95.05
