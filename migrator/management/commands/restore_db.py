"""python manage.py restore_db FILE [--force]: bring a backup_db snapshot back."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError

from migrator.backups import restore_database
from migrator.errors import MigratorError, database_error_message
from migrator.reports import restore_text


class Command(BaseCommand):
    help = (
        "Restore a snapshot written by backup_db into the database; refuses to replace a "
        "database that holds catalog rows unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE")
        parser.add_argument(
            "--force", action="store_true", help="replace a database that holds data"
        )
        parser.add_argument("--format", choices=("text", "json"), default="text")

    def handle(self, *args, **options):
        try:
            restored = restore_database(DEFAULT_DB_ALIAS, options["file"], force=options["force"])
        except MigratorError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps(restored.as_dict(), indent=2))
        elif options["verbosity"] > 0:
            self.stdout.write(self.style.SUCCESS(restore_text(restored)))
