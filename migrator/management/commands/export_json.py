"""python manage.py export_json DIR: write the database out as an export (the JSON files)."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from migrator.errors import database_error_message
from migrator.export import ExportError, export_json
from migrator.reports import export_text


class Command(BaseCommand):
    help = (
        "Write the database out to DIR as an export (providers.json, models.json, "
        "model-status.json, docs/export-format.md): streamed, deterministic (the same database "
        "gives the same bytes), each file renamed into place once complete. Exit status 0: "
        "written; 2: error."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", metavar="DIR")
        parser.add_argument("--format", choices=("text", "json"), default="text")

    def handle(self, *args, **options):
        try:
            result = export_json(options["directory"])
        except ExportError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except OSError as exc:
            raise CommandError(
                f"{options['directory']}: writing failed: {exc}. Nothing was replaced: each "
                "file is renamed into place only once every file is complete.",
                returncode=2,
            ) from exc
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps(result.as_dict(), indent=2))
        elif options["verbosity"] > 0:
            self.stdout.write(export_text(result))
