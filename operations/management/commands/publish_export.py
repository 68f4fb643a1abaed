"""python manage.py publish_export: write the database out as the export and push it to the
export's Git repository (the scheduled sync once reads come from the database)."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from migrator.direction import source_of_truth
from migrator.errors import database_error_message
from migrator.export import ExportError
from operations.publish import PublishError, publish_export


class Command(BaseCommand):
    help = (
        "Write the database out with export_json into a clone of EXPORT_GIT_URL (directory "
        "EXPORT_GIT_PATH, branch EXPORT_GIT_BRANCH), commit and push when it changed. Exit "
        "status 0: published or nothing to publish; 2: error."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source-of-truth",
            action="store_true",
            help="only print which store is the source of truth (json or database) and exit",
        )
        parser.add_argument("--format", choices=("text", "json"), default="text")
        parser.add_argument("--actor", default="", help="who runs this (default: the OS user)")

    def handle(self, *args, **options):
        try:
            if options["source_of_truth"]:
                self.stdout.write(source_of_truth())
                return
            published = publish_export(actor=options["actor"])
        except (PublishError, ExportError) as exc:
            raise CommandError(f"publish failed: {exc}", returncode=2) from exc
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps(published.as_dict(), indent=2))
            return
        where = f"{published.repository} {published.branch}:{published.path}"
        if published.pushed:
            self.stdout.write(
                self.style.SUCCESS(f"published: commit {published.commit[:12]} pushed to {where}")
            )
        else:
            self.stdout.write(
                f"nothing to publish: {where} already holds the database's export "
                f"(commit {published.commit[:12]})"
            )
        for f in published.files:
            self.stdout.write(
                f"  {f['path']:<24}{f['records']:>10} records  sha256 {f['sha256'][:12]}"
            )
        if published.carried_writes:
            self.stdout.write(
                f"{published.carried_writes} queued JSON write(s) carried by this export: done"
            )
        self.stdout.write(f"({published.seconds:.2f} s)")
