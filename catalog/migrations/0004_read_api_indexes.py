"""PostgreSQL indexes for the read API's default ordering and its search (nothing on SQLite).

- The API orders by ``slug COLLATE "C"`` (code point order, as Python and SQLite sort) whatever
  the server's collation; the unique slug index uses the database's collation and cannot serve
  that order, so a page sorted all the models. ``catalog_model_slug_c`` serves it.
- ``q`` (and the admin's search) is ``UPPER(column) LIKE UPPER('%text%')``: trigram GIN indexes
  on exactly those expressions answer it without reading every model. They need the pg_trgm
  extension, a trusted extension since PostgreSQL 13 (any role that may create objects in the
  database can install it; Neon and Render allow it). Where it cannot be installed, the migration
  says so and goes on without these indexes: search still gives the same answers, by a scan.
"""

from django.db import migrations

TRIGRAM_COLUMNS = {
    "catalog_model_name_trgm": ("catalog_model", "name"),
    "catalog_model_slug_trgm": ("catalog_model", "slug"),
    "catalog_model_description_trgm": ("catalog_model", "description"),
}


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute('CREATE INDEX catalog_model_slug_c ON catalog_model (slug COLLATE "C")')
    try:
        # A savepoint: a refused CREATE EXTENSION must not abort the migration's transaction.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SAVEPOINT catalog_trgm")
            try:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except Exception:
                cursor.execute("ROLLBACK TO SAVEPOINT catalog_trgm")
                raise
            cursor.execute("RELEASE SAVEPOINT catalog_trgm")
    except Exception as exc:  # any refusal: permissions, the extension not shipped
        print(
            f"\n  pg_trgm is not available ({str(exc).splitlines()[0]}): the search indexes are "
            "skipped; search works, by a scan. Install pg_trgm and run "
            "`manage.py migrate catalog 0003 && manage.py migrate catalog` to add them."
        )
        return
    for name, (table, column) in TRIGRAM_COLUMNS.items():
        schema_editor.execute(
            f"CREATE INDEX {name} ON {table} USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # The extension stays: other objects may use it, and it is harmless.
    for name in (*TRIGRAM_COLUMNS, "catalog_model_slug_c"):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_catalog_version_triggers")]

    operations = [migrations.RunPython(forward, reverse)]
