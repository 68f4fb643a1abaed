"""ModelStatus.origin: which file of the export a status comes from (model-status.json, or the
model's own status in models.json).

On SQLite, adding a column with a default rebuilds the table, which drops its triggers: the
catalog version's triggers on catalog_modelstatus (migration 0003) are created again after the
rebuild, both ways.
"""

import importlib

from django.db import migrations, models

TABLE = "catalog_modelstatus"


def _sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    triggers = importlib.import_module("catalog.migrations.0003_catalog_version_triggers")
    for statement in triggers._sqlite_reverse() + triggers._sqlite_forward():
        if TABLE in statement:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_status_summary"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, _sqlite_triggers),
        migrations.AddField(
            model_name="modelstatus",
            name="origin",
            field=models.CharField(
                choices=[
                    ("status_file", "model-status.json"),
                    ("models_file", "models.json (the model's own status)"),
                ],
                db_default="status_file",
                default="status_file",
                max_length=16,
            ),
        ),
        migrations.RunPython(_sqlite_triggers, migrations.RunPython.noop),
    ]
