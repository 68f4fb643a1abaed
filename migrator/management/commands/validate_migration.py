"""python manage.py validate_migration [SOURCE ...]: compare an export with the database."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from migrator import source
from migrator.errors import MigratorError, database_error_message
from migrator.reports import validation_text
from migrator.validate import ENTITIES, Options, Validation


class Command(BaseCommand):
    help = (
        "Compare an export (same SOURCE rules as backfill_json) with the database: counts, "
        "missing, extra and changed rows field by field, orphans, integrity checks. Exit status "
        "0: they agree (warnings and recorded rejects allowed); 1: they differ; 2: error."
    )

    def add_arguments(self, parser):
        parser.add_argument("sources", nargs="*", metavar="SOURCE")
        parser.add_argument(
            "--entity",
            action="append",
            choices=ENTITIES,
            help="validate only this entity (repeatable)",
        )
        parser.add_argument(
            "--strict", action="store_true", help="count records in the reject queue as differences"
        )
        parser.add_argument(
            "--float-tolerance",
            type=float,
            default=0.0,
            metavar="X",
            help="floats within X of each other are equal (default: exact)",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=20,
            help="differences to print (default 20; --verbose prints all)",
        )
        parser.add_argument("--verbose", action="store_true", help="print every difference")
        parser.add_argument("--format", choices=("text", "json"), default="text")
        parser.add_argument("--output", metavar="FILE", help="write the JSON report to FILE")
        parser.add_argument("--actor", default="", help="who runs this (default: the OS user)")

    def handle(self, *args, **options):
        validation = Validation(
            Options(
                sources=tuple(options["sources"] or source.default_sources(settings)),
                entities=frozenset(options["entity"] or ENTITIES),
                strict=options["strict"],
                float_tolerance=options["float_tolerance"],
                limit=options["limit"],
                actor=options["actor"],
            )
        )
        try:
            report = validation.run()
        except MigratorError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc
        document = report.as_dict()
        if options["output"]:
            Path(options["output"]).write_text(json.dumps(document, indent=2, default=str))
        if options["format"] == "json":
            self.stdout.write(json.dumps(document, indent=2, default=str))
        elif options["verbosity"] > 0:
            text = validation_text(report, verbose=options["verbose"])
            first, _, rest = text.partition("\n")
            style = self.style.SUCCESS if report.passed else self.style.ERROR
            self.stdout.write(style(first))
            self.stdout.write(rest)
        if not report.passed:
            raise CommandError(
                f"the database and the export differ: {report.difference_count} difference(s)",
                returncode=1,
            )
