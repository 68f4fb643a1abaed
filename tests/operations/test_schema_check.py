"""check_schema: 0 on a fresh database, 1 naming each difference after hand-made changes."""

import sqlite3

import pytest

from tests.conftest import IS_POSTGRES, count_rows, manage

pytestmark = pytest.mark.django_db


@pytest.fixture
def migrated(scratch_database):
    url = scratch_database()
    assert manage("migrate", "--noinput", "-v", "0", database_url=url).returncode == 0
    return url


def by_hand(url: str, *statements: str):
    if IS_POSTGRES:
        import psycopg

        with psycopg.connect(url) as conn:
            for statement in statements:
                conn.execute(statement)
    else:
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            for statement in statements:
                conn.execute(statement)


def test_fresh_database__matches(migrated):
    result = manage("check_schema", database_url=migrated)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("schema check: the database matches its migrations (")
    assert count_rows(migrated, "operations_schemacheck") == 1


def test_dropped_index_and_altered_column__exit_1_naming_each(migrated):
    if IS_POSTGRES:
        by_hand(
            migrated,
            "DROP INDEX catalog_status_checked_at",
            "ALTER TABLE catalog_modelstatus ALTER COLUMN availability TYPE numeric(6,2)",
        )
        column = (
            "column catalog_modelstatus.availability: type numeric(6,2), the migrations give "
            "double precision"
        )
    else:  # SQLite cannot alter a column's type in place: a rename is its hand-made change
        by_hand(
            migrated,
            "DROP INDEX catalog_status_checked_at",
            "ALTER TABLE catalog_modelstatus RENAME COLUMN usage TO usage_ratio",
        )
        column = "column catalog_modelstatus.usage: missing"
    result = manage("check_schema", database_url=migrated)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("schema check: ") and "difference(s)" in lines[0]
    assert f"  {column}" in lines
    assert any(
        line.startswith("  index catalog_status_checked_at on catalog_modelstatus: missing")
        for line in lines
    )
    assert result.stderr.strip().startswith(
        "CommandError: the database differs from its migrations: "
    )


@pytest.mark.skipif(not IS_POSTGRES, reason="constraints are altered in place on PostgreSQL")
def test_dropped_foreign_key_and_nullable_column__named(migrated):
    by_hand(
        migrated,
        "ALTER TABLE catalog_model ALTER COLUMN name DROP NOT NULL",
        "ALTER TABLE catalog_modelstatus DROP CONSTRAINT "
        "catalog_modelstatus_model_id_fc673c2d_fk_catalog_model_id",
    )
    result = manage("check_schema", database_url=migrated)
    assert result.returncode == 1
    assert "  column catalog_model.name: NULL, the migrations give NOT NULL" in result.stdout
    assert (
        "  foreign key catalog_modelstatus_model_id_fc673c2d_fk_catalog_model_id on "
        "catalog_modelstatus: missing (foreign key (model_id) -> catalog_model.id"
    ) in result.stdout


def test_unapplied_migration__compared_with_what_is_applied_and_listed(scratch_database):
    url = scratch_database()
    assert manage("migrate", "migrator", "0003", "-v", "0", database_url=url).returncode == 0
    assert manage("migrate", "operations", "-v", "0", database_url=url).returncode == 0
    result = manage("check_schema", database_url=url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "migration(s) not applied yet" in result.stdout
    assert "migrator.0005_backfill_run_process" in result.stdout


def test_constraint_shape__the_same_check_respelled_matches_a_changed_one_does_not():
    """pg_restore gives back ``ANY (ARRAY[('a'::character varying)::text, ...])`` for the
    migration's ``ANY ((ARRAY['a'::character varying, ...])::text[])``: the same constraint.
    A value taken out of it is a different one."""
    from operations.schema_check import Constraint

    migrated = (
        "CHECK (((status)::text = ANY ((ARRAY['operational'::character varying, "
        "'outage'::character varying])::text[])))"
    )
    restored = (
        "CHECK (((status)::text = ANY (ARRAY[('operational'::character varying)::text, "
        "('outage'::character varying)::text])))"
    )
    changed = "CHECK (((status)::text = ANY ((ARRAY['operational'::character varying])::text[])))"
    assert Constraint.shape_of(migrated) == Constraint.shape_of(restored)
    assert Constraint.shape_of(migrated) != Constraint.shape_of(changed)
