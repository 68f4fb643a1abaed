"""python manage.py copy_database --from URL [--to URL]: copy a whole database, then compare."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from migrator import databases
from migrator.backups import backup_database
from migrator.compare_databases import DatabaseComparison
from migrator.database_copy import BATCH_SIZE, database_copy
from migrator.errors import MigratorError, database_error_message
from migrator.reports import copy_text, validation_text
from migrator.validation_report import Options


def same_database(a: str, b: str) -> bool:
    one, other = connections[a].settings_dict, connections[b].settings_dict
    keys = ("ENGINE", "NAME", "HOST", "PORT")
    return all(str(one.get(k) or "") == str(other.get(k) or "") for k in keys)


class Command(BaseCommand):
    help = (
        "Copy the catalog and the migrator's records (runs, reject queue, audit log, prune "
        "archive, state row, queued writes) from the database at --from into --to (default: "
        "DATABASE_URL), ids kept, idempotent; then compare the two. Exit status 0: copied and "
        "equal; 1: they differ; 2: error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", required=True, metavar="URL")
        parser.add_argument("--to", dest="target", metavar="URL", help="default: DATABASE_URL")
        parser.add_argument(
            "--no-backup", action="store_true", help="do not take a backup of the source first"
        )
        parser.add_argument(
            "--backup-file",
            metavar="FILE",
            help="where the source's backup goes (default: var/backups/<name>-<time>.<ext>)",
        )
        parser.add_argument(
            "--delete-extra",
            action="store_true",
            help="delete rows the target holds and the source does not (default: count them)",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, metavar="N")
        parser.add_argument("--format", choices=("text", "json"), default="text")

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be 1 or more", returncode=2)
        target_url = options["target"]
        try:
            with (
                databases.opened(options["source"], role="source") as source,
                databases.opened(target_url, role="target") as target,
            ):
                if same_database(source, target):
                    raise MigratorError("--from and --to name the same database: nothing to copy")
                backup = None
                if not options["no_backup"]:
                    backup = backup_database(source, options["backup_file"])
                progress = None
                if options["verbosity"] >= 2 and options["format"] == "text":
                    progress = lambda c: self.stderr.write(  # noqa: E731
                        f"  {c.table}: {c.read} read, {c.inserted} inserted, {c.updated} "
                        f"updated in {c.seconds:.1f} s"
                    )
                result = database_copy(
                    source=source,
                    target=target,
                    delete_extra=options["delete_extra"],
                    batch_size=options["batch_size"],
                    progress=progress,
                )
                result.source = databases.shown(options["source"])
                result.target = databases.shown(target_url or settings.DATABASE_URL)
                result.backup = backup
                report = DatabaseComparison(
                    Options(), ours=target, theirs=source, shown=result.source, record=False
                ).run()
        except MigratorError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc
        if options["format"] == "json":
            document = result.as_dict() | {"comparison": report.as_dict()}
            self.stdout.write(json.dumps(document, indent=2, default=str))
        elif options["verbosity"] > 0:
            self.stdout.write(copy_text(result))
            self.stdout.write("")
            text = validation_text(report)
            first, _, rest = text.partition("\n")
            style = self.style.SUCCESS if report.passed else self.style.ERROR
            self.stdout.write(style(first))
            self.stdout.write(rest)
        if not report.passed:
            raise CommandError(
                f"copied, but the two databases differ: {report.difference_count} difference(s)",
                returncode=1,
            )
