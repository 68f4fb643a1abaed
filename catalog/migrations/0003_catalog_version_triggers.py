"""Triggers that raise catalog_catalogversion.version on every committed change to the catalog.

PostgreSQL: a statement-level trigger on each catalog table asks, once per transaction, for a
bump (a row in catalog_version_bump); a deferred constraint trigger on that table does the bump
at commit. The version row is therefore locked only at the very end of a writing transaction,
after every other lock it takes, so two writers never deadlock on it, and a bulk load pays one
trigger call per statement, not per row. TRUNCATE counts too (the row is re-created if a flush
emptied it).

SQLite has no statement-level triggers: one row-level trigger per table and event. SQLite
serializes writers, so the one-row update cannot deadlock.

The version is max(previous + 1, commit time in microseconds): it never goes back, even after a
backup with an older version is restored, so an old cache entry can never match again.
"""

from django.db import migrations

TABLES = ("catalog_provider", "catalog_model", "catalog_modelstatus")

POSTGRES_FORWARD = """
CREATE TABLE catalog_version_bump (txid bigint PRIMARY KEY);

CREATE FUNCTION catalog_version_request() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('catalog.version_requested', true)
            IS DISTINCT FROM txid_current()::text THEN
        PERFORM set_config('catalog.version_requested', txid_current()::text, true);
        INSERT INTO catalog_version_bump (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION catalog_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalog_version_bump WHERE txid = NEW.txid;
    INSERT INTO catalog_catalogversion (id, version)
    VALUES (1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
    ON CONFLICT (id) DO UPDATE
    SET version = GREATEST(catalog_catalogversion.version + 1, EXCLUDED.version);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER catalog_version_bump AFTER INSERT ON catalog_version_bump
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION catalog_version_bump();
""" + "".join(
    f"""
CREATE TRIGGER {table}_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_request();
"""
    for table in TABLES
)

POSTGRES_REVERSE = "".join(f"DROP TRIGGER IF EXISTS {table}_version ON {table};\n" for table in TABLES) + """
DROP TABLE IF EXISTS catalog_version_bump;
DROP FUNCTION IF EXISTS catalog_version_bump();
DROP FUNCTION IF EXISTS catalog_version_request();
"""

# Microseconds since the epoch, as SQLite can tell them (julianday has sub-millisecond precision).
SQLITE_NOW_US = "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"
SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")


def _sqlite_forward() -> list[str]:
    return [
        f"""CREATE TRIGGER {table}_version_{event.lower()} AFTER {event} ON {table}
BEGIN
    INSERT INTO catalog_catalogversion (id, version) VALUES (1, {SQLITE_NOW_US})
    ON CONFLICT (id) DO UPDATE SET version = max(version + 1, excluded.version);
END"""
        for table in TABLES
        for event in SQLITE_EVENTS
    ]


def _sqlite_reverse() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_version_{event.lower()}"
        for table in TABLES
        for event in SQLITE_EVENTS
    ]


def _run(statements: list[str], schema_editor):
    for statement in statements:
        schema_editor.execute(statement)


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run([POSTGRES_FORWARD], schema_editor)
    elif vendor == "sqlite":
        _run(_sqlite_forward(), schema_editor)
    else:
        raise NotImplementedError(f"catalog version triggers for {vendor}")
    CatalogVersion = apps.get_model("catalog", "CatalogVersion")
    CatalogVersion.objects.get_or_create(pk=1, defaults={"version": 0})


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run([POSTGRES_REVERSE], schema_editor)
    elif vendor == "sqlite":
        _run(_sqlite_reverse(), schema_editor)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_catalog_version_and_read_indexes")]

    operations = [migrations.RunPython(forward, reverse)]
