"""python manage.py check_schema: does the database still match what its migrations produce?"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from migrator.errors import database_error_message
from migrator.runs import operator_name
from operations.schema_check import SchemaCheckError, check_schema


class Command(BaseCommand):
    help = (
        "Compare the live database (tables, columns and types, indexes, constraints, foreign "
        "keys) with what its applied migrations produce, built in a scratch database. Exit "
        "status 0: they match; 1: they differ (each difference named); 2: error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="database alias")
        parser.add_argument("--actor", default="", help="who runs this (default: the OS user)")

    def handle(self, *args, **options):
        try:
            result = check_schema(using=options["database"], actor=operator_name(options["actor"]))
        except SchemaCheckError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc
        if result.pending:
            self.stdout.write(
                self.style.WARNING(
                    f"{len(result.pending)} migration(s) not applied yet (compared with what "
                    f"is applied; `migrate` applies them): {', '.join(result.pending)}"
                )
            )
        if result.matches:
            self.stdout.write(
                self.style.SUCCESS(
                    f"schema check: the database matches its migrations ({result.tables} "
                    f"tables, {result.columns} columns, {result.constraints} indexes and "
                    "constraints)"
                )
            )
            return
        self.stdout.write(
            self.style.ERROR(
                f"schema check: {len(result.differences)} difference(s) between the database "
                "and its migrations:"
            )
        )
        for difference in result.differences:
            self.stdout.write(f"  {difference}")
        raise CommandError(
            f"the database differs from its migrations: {len(result.differences)} difference(s)",
            returncode=1,
        )
