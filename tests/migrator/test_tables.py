"""The database compares stored values with the export (migrator/tables.py): rows changed behind
the app's back are found by validate_migration, named field by field, and repaired by
backfill_json, on SQLite and on PostgreSQL alike."""

import json

import pytest
from django.db import connection

from catalog.models import Model, ModelStatus
from tests.conftest import command

pytestmark = pytest.mark.django_db


def report(export) -> tuple[int, dict]:
    code, out, _ = command("validate_migration", str(export), "--format", "json")
    return code, json.loads(out)


def changes(document) -> list[tuple]:
    return sorted(
        (d["entity"], d["key"], c["field"], _text(c["export"]), _text(c["database"]))
        for d in document["differences"]
        if d["kind"] == "changed"
        for c in d["changes"]
    )


def _text(value):
    return value if isinstance(value, str) or value is None else json.dumps(value)


def _sql(statement: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _add_metadata_key(table: str, key: str, value: int, slug_column: str, slug: str):
    if connection.vendor == "postgresql":
        _sql(
            f"UPDATE {table} SET metadata = metadata || %s::jsonb WHERE {slug_column} = %s",  # noqa: S608
            [json.dumps({key: value}), slug],
        )
    else:
        _sql(
            f"UPDATE {table} SET metadata = json_set(metadata, %s, %s) WHERE {slug_column} = %s",  # noqa: S608
            [f"$.{key}", value, slug],
        )


def test_rows_changed_behind_the_apps_back__named_then_repaired(sample_export):
    command("backfill_json", str(sample_export))
    assert report(sample_export)[0] == 0
    # 1. A QuerySet.update: bypasses save() and every signal.
    ModelStatus.objects.filter(model__slug="openai-gpt-4o").update(availability=12.345)
    # 2. Raw SQL: a column and a metadata key of a status.
    status_id = ModelStatus.objects.get(model__slug="openai-o3").pk
    _sql("UPDATE catalog_modelstatus SET status = 'outage' WHERE id = %s", [status_id])
    _add_metadata_key("catalog_modelstatus", "probe", 7, "id", status_id)
    # 3. A model renamed in SQL.
    _sql("UPDATE catalog_model SET name = 'Renamed' WHERE slug = 'anthropic-claude-3.5-sonnet'")

    code, document = report(sample_export)
    assert code == 1
    assert changes(document) == [
        ("models", "anthropic-claude-3.5-sonnet", "name", "Claude 3.5 Sonnet", "Renamed"),
        ("statuses", "openai-gpt-4o@global", "availability", "98.29", "12.345"),
        ("statuses", "openai-o3@global", "metadata.probe", "(absent)", "7"),
        ("statuses", "openai-o3@global", "status", "operational", "outage"),
    ]

    code, out, _ = command("backfill_json", str(sample_export), "--format", "json")
    assert code == 1  # the sample's three deliberate rejects
    entities = json.loads(out)["entities"]
    assert entities["models"]["updated"] == 1 and entities["statuses"]["updated"] == 2
    assert report(sample_export)[0] == 0
    assert Model.objects.get(slug="anthropic-claude-3.5-sonnet").name == "Claude 3.5 Sonnet"
    assert ModelStatus.objects.get(pk=status_id).metadata == {}


def test_unchanged_rows__are_not_written(sample_export):
    command("backfill_json", str(sample_export))
    before = dict(ModelStatus.objects.values_list("id", "updated_at"))
    _code, out, _ = command("backfill_json", str(sample_export), "--format", "json")
    statuses = json.loads(out)["entities"]["statuses"]
    assert (statuses["inserted"], statuses["updated"], statuses["unchanged"]) == (0, 0, 58)
    assert dict(ModelStatus.objects.values_list("id", "updated_at")) == before


def test_json_spelling__is_no_difference(sample_export):
    """Stored JSON written with other spacing (by hand, by another tool) equals the export's."""
    command("backfill_json", str(sample_export))
    slug = "google-gemma-2-27b"
    model = Model.objects.get(slug=slug)
    assert model.modalities  # the sample gives it some
    spaced = json.dumps(model.modalities, indent=2)
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    _sql(f"UPDATE catalog_model SET modalities = %s{cast} WHERE slug = %s", [spaced, slug])  # noqa: S608
    assert report(sample_export)[0] == 0


def test_float_tolerance__applies_to_stored_values(sample_export):
    command("backfill_json", str(sample_export))
    ModelStatus.objects.filter(model__slug="openai-gpt-4o").update(availability=98.2905)
    code, out, _ = command(
        "validate_migration", str(sample_export), "--float-tolerance", "0.001", "--format", "json"
    )
    assert code == 0, out
    assert report(sample_export)[0] == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's planner statistics (SQLite keeps none)"
)
def test_statistics__kept_in_step_with_a_table_a_run_grows(sample_export, tmp_path):
    """A statuses table analyzed at the sample's size, then grown by a run to 15,000 rows
    through the staged path (it is not empty: no first load): the run refreshes its statistics
    as it grows, so the planner does not look batches up as if the table held 58 rows."""
    from bench.synthetic import write_export
    from migrator import tables

    command("backfill_json", str(sample_export))
    before = tables.estimated_rows(tables.STATUSES)
    assert 0 < before < 100
    from migrator.backfill import Backfill, Options

    write_export(tmp_path / "big", statuses=15_000, models=300)
    seen = []  # the planner's row count as each statuses batch is read

    def progress(export_file, _done):
        if export_file.kind == "statuses":
            seen.append(tables.estimated_rows(tables.STATUSES))

    result = Backfill(Options(sources=(str(tmp_path / "big"),)), progress=progress).run()
    assert result.counts["statuses"].inserted == 15_000
    # Refreshed during the run (the pass's final ANALYZE comes after the last batch).
    assert max(seen) >= 10_000, seen
