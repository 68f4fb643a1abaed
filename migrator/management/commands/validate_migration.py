"""python manage.py validate_migration [SOURCE ...]: compare an export with the database."""

import argparse
import json
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from migrator import source
from migrator.compare_databases import DatabaseComparison
from migrator.errors import MigratorError, database_error_message
from migrator.reports import validation_text
from migrator.validate import ENTITIES, Options, Validation


def entity_name(value: str) -> str:
    names = [str(entity) for entity in ENTITIES]
    if value not in names:
        raise argparse.ArgumentTypeError(f"unknown entity {value!r}: use {', '.join(names)}")
    return value


def writable_output(value: str) -> Path:
    """--output: refused before the run when the file cannot be written (the run would be
    recorded, then the report lost)."""
    path = Path(value)
    folder = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a directory: name a file")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: the directory {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"{value}: not writable (permission denied)")
    return path


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
            type=entity_name,
            help="validate only this entity: providers, models or statuses (repeatable)",
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
            help="differences to print (default 20; -v 2 prints all)",
        )
        parser.add_argument(
            "--verbose", action="store_true", help="print every difference (same as -v 2)"
        )
        parser.add_argument("--format", choices=("text", "json"), default="text")
        parser.add_argument(
            "--output",
            metavar="FILE",
            type=writable_output,
            help="write the JSON report to FILE (checked before the run)",
        )
        parser.add_argument("--actor", default="", help="who runs this (default: the OS user)")
        parser.add_argument(
            "--against-database",
            metavar="URL",
            help="compare with the database at URL (sqlite:// or postgres://) instead of an "
            "export: both directions, field by field, by natural key",
        )

    def handle(self, *args, **options):
        against = options["against_database"]
        if against and options["sources"]:
            raise CommandError(
                "give either export SOURCEs or --against-database URL, not both", returncode=2
            )
        if against and options["strict"]:
            raise CommandError(
                "--strict is about the reject queue of an export comparison; two databases "
                "are compared row for row already",
                returncode=2,
            )
        run_options = Options(
            sources=tuple(
                options["sources"] or ([] if against else source.default_sources(settings))
            ),
            entities=frozenset(options["entity"] or ENTITIES),
            strict=options["strict"],
            float_tolerance=options["float_tolerance"],
            limit=options["limit"],
            actor=options["actor"],
        )
        if against:
            validation = DatabaseComparison(run_options, against)
        else:
            validation = Validation(run_options)
        try:
            report = validation.run()
        except MigratorError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc
        document = report.as_dict()
        if options["output"]:
            try:
                options["output"].write_text(json.dumps(document, indent=2, default=str))
            except OSError as exc:
                raise CommandError(
                    f"validation #{report.run.pk} ran, but its report could not be written to "
                    f"{options['output']}: {exc.strerror or exc}",
                    returncode=2,
                ) from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps(document, indent=2, default=str))
        elif options["verbosity"] > 0:
            verbose = options["verbose"] or options["verbosity"] >= 2
            text = validation_text(report, verbose=verbose)
            first, _, rest = text.partition("\n")
            style = self.style.SUCCESS if report.passed else self.style.ERROR
            self.stdout.write(style(first))
            self.stdout.write(rest)
        if not report.passed and against:
            raise CommandError(
                f"the two databases differ: {report.difference_count} difference(s)",
                returncode=1,
            )
        if not report.passed:
            raise CommandError(
                f"the database and the export differ: {report.difference_count} difference(s)"
                + never_loaded_hint(report),
                returncode=1,
            )


def never_loaded_hint(report) -> str:
    """Validating before any backfill: every record is "missing", which says little by itself."""
    compared = report.entities.values()
    if any(r.in_database for r in compared) or not any(r.in_export for r in compared):
        return ""
    return "; the database holds none of these records: run `backfill_json` first"
