"""python manage.py migration_log: the latest `migrate` runs, as the admin shows them."""

from django.core.management.base import BaseCommand

from operations.models import MigrationRun


class Command(BaseCommand):
    help = "List the latest runs of `migrate` from the migration log (newest first)."

    def add_arguments(self, parser):
        parser.add_argument("--last", type=int, default=10, metavar="N", help="runs shown")

    def handle(self, *args, **options):
        runs = MigrationRun.objects.all()[: max(options["last"], 1)]
        if not runs:
            self.stdout.write("the migration log is empty")
        for run in runs:
            self.stdout.write(
                f"#{run.pk} {run.started_at:%Y-%m-%d %H:%M:%S} {run.outcome} by {run.actor} on "
                f"{run.host} ({run.seconds:.2f} s)"
            )
            if not run.steps:
                self.stdout.write("  nothing to apply")
            for step in run.steps:
                seconds = "" if step["seconds"] is None else f" {step['seconds']:.3f} s"
                self.stdout.write(
                    f"  {step['direction']:<8}{step['migration']:<50}{step['outcome']}{seconds}"
                )
            if run.error:
                self.stdout.write(f"  error: {run.error}")
