# The process that runs a backfill (pid, host), so that a run killed without finishing can be
# marked interrupted. Existing rows keep no process (nothing can be told about them): the columns
# are added nullable without a default first (no NOT NULL column: the previous release keeps
# inserting runs during a deploy), then the model's default (the running process) is set.

from django.db import migrations, models

import migrator.processes


class Migration(migrations.Migration):
    dependencies = [
        ("migrator", "0004_live_guard_dead_letters_maintenance"),
    ]

    operations = [
        migrations.AddField(
            model_name="backfillrun",
            name="pid",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="backfillrun",
            name="host",
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
        migrations.AlterField(
            model_name="backfillrun",
            name="pid",
            field=models.PositiveIntegerField(
                blank=True, default=migrator.processes.current_pid, null=True
            ),
        ),
        migrations.AlterField(
            model_name="backfillrun",
            name="host",
            field=models.CharField(
                blank=True, default=migrator.processes.current_host, max_length=255, null=True
            ),
        ),
        migrations.AlterField(
            model_name="backfillrun",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("running", "Running"),
                    ("succeeded", "Succeeded"),
                    ("rejected", "completed with rejected records"),
                    ("failed", "Failed"),
                    ("interrupted", "Interrupted"),
                ],
                default="running",
                max_length=16,
            ),
        ),
    ]
