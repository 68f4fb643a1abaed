import json

import pytest

from catalog.models import Model, ModelStatus, Provider
from migrator.models import ValidationRun
from tests.conftest import command, manage

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(sample_export):
    """The sample backfilled: the database holds the export minus its three known rejects."""
    command("backfill_json", str(sample_export))
    return sample_export


def validate(export, *args):
    return command("validate_migration", str(export), *args)


def report(export, *args) -> tuple[int, dict]:
    code, out, _ = validate(export, "--format", "json", *args)
    return code, json.loads(out)


def keys(document, kind=None):
    return [
        (d["kind"], d["entity"], d["key"])
        for d in document["differences"]
        if kind is None or d["kind"] == kind
    ]


def test_identical__exit_0_and_validated(loaded):
    code, out, _ = validate(loaded)
    assert code == 0
    assert "PASSED" in out
    for entity in ("providers", "models", "statuses"):
        assert f"{entity:<10}   validated" in out
    run = ValidationRun.objects.get()
    assert run.passed is True and run.complete is True
    assert {s["file"] for s in run.sources} == {
        "providers.json",
        "models.json",
        "model-status.json",
    }


def test_changed_field__named_once_with_export_and_database_values(loaded):
    # An edit made through the app clears the row's fingerprint.
    ModelStatus.objects.filter(model__slug="openai-o3").update(availability=12.5)
    code, document = report(loaded)
    assert code == 1
    assert keys(document) == [("changed", "statuses", "openai-o3@global")]
    assert document["differences"][0]["changes"] == [
        {"field": "availability", "export": 95.05, "database": 12.5}
    ]
    assert document["entities"]["statuses"]["state"] == "mismatched"
    assert document["entities"]["models"]["state"] == "validated"


def test_changed_field_behind_the_apps_back__found(loaded):
    # A QuerySet.update bypasses save(): nothing of the app sees it but the stored value.
    ModelStatus.objects.filter(model__slug="openai-o3").update(status="outage")
    code, document = report(loaded)
    assert code == 1
    assert keys(document) == [("changed", "statuses", "openai-o3@global")]
    assert document["differences"][0]["changes"][0]["field"] == "status"


def test_missing_and_extra_rows__named_once_each(loaded):
    ModelStatus.objects.filter(model__slug="openai-o3").delete()
    model = Model.objects.get(slug="openai-gpt-4o")
    ModelStatus.objects.create(model=model, region="mars-1", status="outage")
    Provider.objects.create(slug="acme", name="Acme")
    code, out, _ = validate(loaded)
    assert code == 1
    assert out.count("openai-o3@global") == 1 and out.count("mars-1") == 1
    code, document = report(loaded)
    assert sorted(keys(document)) == [
        ("extra", "providers", "acme"),
        ("extra", "statuses", "openai-gpt-4o@mars-1"),
        ("missing", "statuses", "openai-o3@global"),
    ]
    assert "- statuses openai-o3@global" in out
    assert "+ statuses openai-gpt-4o@mars-1" in out


def test_changed_metadata_key__named_as_that_key(loaded):
    ModelStatus.objects.filter(model__slug="xai-grok-3").update(
        metadata={"probe": {"host": "probe-8", "version": "2.4.1"}}
    )
    code, document = report(loaded)
    assert code == 1
    (difference,) = document["differences"]
    assert difference["changes"] == [
        {
            "field": "metadata.probe",
            "export": {"host": "probe-7", "version": "2.4.1"},
            "database": {"host": "probe-8", "version": "2.4.1"},
        }
    ]


def test_metadata_no_longer_an_object__named_whole(loaded):
    # Written in SQL behind the app's back: an empty list is not "no extra keys".
    status = ModelStatus.objects.filter(metadata={}).first()
    ModelStatus.objects.filter(pk=status.pk).update(metadata=[])
    code, document = report(loaded)
    assert code == 1
    (difference,) = document["differences"]
    assert difference["changes"] == [{"field": "metadata", "export": {}, "database": []}]


def test_model_missing_from_the_database__its_statuses_are_orphans(loaded):
    Model.objects.filter(slug="openai-o3").delete()  # its status goes with it (cascade)
    code, document = report(loaded)
    assert code == 1
    assert sorted(keys(document)) == [
        ("missing", "models", "openai-o3"),
        ("orphan", "statuses", "openai-o3@global"),
    ]


def test_known_rejects__listed_apart_and_excused_unless_strict(loaded):
    code, out, _ = validate(loaded)
    assert code == 0
    assert "known rejects (2 in the queue, 2 excused)" in out
    assert "x statuses openai-gpt-5-preview@global: unknown model" in out
    code, document = report(loaded, "--strict")
    assert code == 1
    assert document["differenceCount"] == 2
    assert {d["kind"] for d in document["differences"]} == {"rejected"}


def test_semantic_equality__timestamp_spelling_and_key_order(loaded):
    data = json.loads((loaded / "model-status.json").read_text())
    record = data["statuses"]["openai-o3"]
    record["checkedAt"] = record["checkedAt"].replace("Z", "+00:00")
    data["statuses"]["openai-o3"] = dict(reversed(list(record.items())))
    (loaded / "model-status.json").write_text(json.dumps(data))
    code, document = report(loaded)
    assert code == 0, document["differences"]
    assert document["entities"]["statuses"]["matched"] == 58


def test_float_tolerance(loaded):
    ModelStatus.objects.filter(model__slug="openai-o3").update(availability=95.0501)
    assert report(loaded)[0] == 1
    assert report(loaded, "--float-tolerance", "0.001")[0] == 0


def test_data_quality_warnings__do_not_fail_and_match_backfill(loaded):
    code, document = report(loaded)
    assert code == 0
    # The records that load, and only they (the rejected availability 101.5 is a reject).
    assert document["warnings"] == {
        "latencyP99 < latencyP95": 1,
        "empty status object": 1,
        "merged duplicate model": 1,
        "status differs from models.json": 14,
    }
    _, out, _ = command("backfill_json", str(loaded), "--dry-run", "--format", "json")
    entities = json.loads(out)["entities"]
    assert (entities["models"]["warnings"], entities["statuses"]["warnings"]) == (1, 16)


def test_json_report__matches_the_text_report(loaded, tmp_path):
    ModelStatus.objects.filter(model__slug="openai-o3").delete()
    output = tmp_path / "report.json"
    code, text, _ = validate(loaded, "--output", str(output))
    assert code == 1
    document = json.loads(output.read_text())
    for entity, counts in document["entities"].items():
        line = next(line for line in text.splitlines() if line.startswith(f"{entity:<10}"))
        cells = line.split()
        assert cells[1] == counts["state"]
        assert [int(c) for c in cells[2:10]] == [
            counts[k]
            for k in (
                "in_export",
                "in_database",
                "matched",
                "missing",
                "extra",
                "changed",
                "orphans",
                "excused",
            )
        ]


def test_entity__limits_the_work(loaded):
    ModelStatus.objects.filter(model__slug="openai-o3").delete()
    code, document = report(loaded, "--entity", "models")
    assert code == 0
    assert document["entities"]["statuses"]["state"] == "skipped"
    assert ValidationRun.objects.latest().complete is False
    code, document = report(loaded, "--entity", "statuses")
    assert code == 1 and keys(document) == [("missing", "statuses", "openai-o3@global")]


def test_unreadable_source__is_a_command_error(tmp_path):
    code, _, err = validate(tmp_path / "nope")
    assert code == 2 and "no such file or directory" in err
    (tmp_path / "models.json").write_text('{"models": [')
    code, _, err = validate(tmp_path / "models.json")
    assert code == 2 and "malformed JSON" in err


def test_stopped_database__is_a_clear_command_error(sample_export):
    result = manage(
        "validate_migration",
        str(sample_export),
        database_url="postgres://catalog:s3cret@127.0.0.1:1/catalog",
    )
    assert result.returncode == 2
    assert "database error" in result.stderr and "Check DATABASE_URL" in result.stderr
    assert "s3cret" not in result.stderr
    assert "Traceback" not in result.stderr


def test_run_is_recorded_with_the_first_differences(loaded):
    ModelStatus.objects.filter(model__slug="openai-o3").delete()
    validate(loaded)
    run = ValidationRun.objects.get()
    assert run.passed is False and run.finished_at is not None
    assert run.counts["statuses"]["missing"] == 1
    assert run.differences[0]["key"] == "openai-o3@global"
