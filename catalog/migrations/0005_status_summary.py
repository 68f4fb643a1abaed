"""PostgreSQL: per model, the figures the aggregates need from its statuses, kept by triggers.

``/api/v1/status`` and ``/api/v1/providers`` need, over every status: the count, the exact mean
availability, and each model's worst status. Computed from the statuses they read every row
(1.3-1.5 s at 1,000,000 statuses); from this table they read one row per model.

``catalog_statussummary`` holds per model: the number of statuses, the number of each status
value (the worst present is the headline), and the count and exact (numeric) sum of the
availabilities. Statement-level triggers with transition tables add what a statement inserted
and subtract what it deleted (an update does both), grouped by model, so a bulk load pays one
grouped upsert per statement. The upserts add deltas, so concurrent writers to one model simply
queue on its row; rows of models left without statuses are removed. A TRUNCATE of the statuses
empties it. SQLite keeps no summary: its aggregates read the statuses (catalog/selectors.py).

Not a Django model: it is an index-like structure the database keeps, not data anyone edits.
"""

from django.db import migrations

COUNTS = ("operational", "degraded", "outage", "unknown")


def _grouped(rows: str, sign: str) -> str:
    counts = ", ".join(f"{sign}count(*) FILTER (WHERE status = '{value}')" for value in COUNTS)
    return f"""
        INSERT INTO catalog_statussummary AS s
            (model_id, statuses, {", ".join(COUNTS)}, availability_count, availability_sum)
        SELECT model_id, {sign}count(*), {counts},
               {sign}count(availability), {sign}coalesce(sum(availability::numeric), 0)
        FROM {rows} GROUP BY model_id ORDER BY model_id
        ON CONFLICT (model_id) DO UPDATE SET
            statuses = s.statuses + EXCLUDED.statuses,
            {", ".join(f"{value} = s.{value} + EXCLUDED.{value}" for value in COUNTS)},
            availability_count = s.availability_count + EXCLUDED.availability_count,
            availability_sum = s.availability_sum + EXCLUDED.availability_sum;"""


FORWARD = f"""
CREATE TABLE catalog_statussummary (
    model_id bigint PRIMARY KEY,
    statuses bigint NOT NULL,
    {" ".join(f"{value} bigint NOT NULL," for value in COUNTS)}
    availability_count bigint NOT NULL,
    availability_sum numeric NOT NULL
);

CREATE FUNCTION catalog_status_summary() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {_grouped("new_rows", "")}
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        {_grouped("old_rows", "-")}
        DELETE FROM catalog_statussummary
        WHERE statuses = 0 AND model_id IN (SELECT model_id FROM old_rows);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION catalog_status_summary_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE catalog_statussummary;
    RETURN NULL;
END $$;

CREATE TRIGGER catalog_status_summary_insert AFTER INSERT ON catalog_modelstatus
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION catalog_status_summary();

CREATE TRIGGER catalog_status_summary_update AFTER UPDATE ON catalog_modelstatus
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION catalog_status_summary();

CREATE TRIGGER catalog_status_summary_delete AFTER DELETE ON catalog_modelstatus
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION catalog_status_summary();

CREATE TRIGGER catalog_status_summary_truncate AFTER TRUNCATE ON catalog_modelstatus
FOR EACH STATEMENT EXECUTE FUNCTION catalog_status_summary_truncate();

{_grouped("catalog_modelstatus", "")}
"""

REVERSE = """
DROP TRIGGER IF EXISTS catalog_status_summary_insert ON catalog_modelstatus;
DROP TRIGGER IF EXISTS catalog_status_summary_update ON catalog_modelstatus;
DROP TRIGGER IF EXISTS catalog_status_summary_delete ON catalog_modelstatus;
DROP TRIGGER IF EXISTS catalog_status_summary_truncate ON catalog_modelstatus;
DROP FUNCTION IF EXISTS catalog_status_summary();
DROP FUNCTION IF EXISTS catalog_status_summary_truncate();
DROP TABLE IF EXISTS catalog_statussummary;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REVERSE)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_read_api_indexes")]

    operations = [migrations.RunPython(forward, reverse)]
