"""python manage.py backup_db [FILE]: a restorable snapshot of the configured database."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError

from migrator.backups import METHODS, backup_database, holds_data
from migrator.errors import MigratorError, database_error_message
from migrator.reports import backup_text


class Command(BaseCommand):
    help = (
        "Write a restorable snapshot of the database to FILE (default var/backups/...): "
        "pg_dump's custom format on PostgreSQL when the client tools are installed, SQLite's "
        "online backup on SQLite, else a logical snapshot (a SQLite file). restore_db brings "
        "it back."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", metavar="FILE")
        parser.add_argument("--method", choices=METHODS, default="auto")
        parser.add_argument("--format", choices=("text", "json"), default="text")
        parser.add_argument(
            "--when-enabled",
            choices=("migrate", "sync"),
            help="only when BACKUP_BEFORE_MIGRATE / BACKUP_BEFORE_SYNC is true (the release "
            "step and bin/sync-export call it so); otherwise do nothing",
        )

    def handle(self, *args, **options):
        when = options["when_enabled"]
        if when and not getattr(settings, f"BACKUP_BEFORE_{when.upper()}"):
            if options["verbosity"] > 1:
                self.stdout.write(f"no backup: BACKUP_BEFORE_{when.upper()} is off")
            return
        if when and not holds_data(DEFAULT_DB_ALIAS):
            # A first deploy: nothing to keep yet (and no tables to read before migrate).
            if options["verbosity"] > 0:
                self.stdout.write("no backup: the database holds no catalog rows yet")
            return
        try:
            backup = backup_database(DEFAULT_DB_ALIAS, options["file"], method=options["method"])
        except MigratorError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps(backup.as_dict(), indent=2))
        elif options["verbosity"] > 0:
            self.stdout.write(self.style.SUCCESS(backup_text(backup)))
