"""Django's `migrate`, logged: every run is recorded in the migration log (admin: Migration runs),
and a database that cannot be reached is one line, not a traceback."""

import re

from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import DatabaseError, OperationalError
from django.db.models.signals import pre_migrate

from migrator.errors import first_line
from operations.migration_log import MigrationLog

_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')


def unreachable_message(exc: BaseException) -> str:
    """What migrate says when it cannot connect (never the URL or password)."""
    text = first_line(exc)
    missing = _MISSING_DATABASE.search(text)
    if missing:
        return (
            f"database error: {text}. Create it first (e.g. `createdb {missing.group(1)}`, or in "
            "your host's dashboard), or fix DATABASE_URL (DIRECT_URL for migrate when set)."
        )
    if "unable to open database file" in text:
        return (
            f"database error: {text}. The directory of the SQLite file in DATABASE_URL must "
            "exist and be writable."
        )
    return (
        f"database error: {text}. Check DATABASE_URL (DIRECT_URL for migrate when set) and that "
        "the database server is running."
    )


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " Each run is recorded in the migration log (operations app)."

    log = None

    def execute(self, *args, **options):
        # Django's system checks run before handle() and connect first (JSON field support).
        try:
            return super().execute(*args, **options)
        except OperationalError as exc:
            if self.log is not None and self.log.steps:
                raise  # failed during a migration, not on connecting
            raise CommandError(unreachable_message(exc), returncode=2) from exc

    def handle(self, *args, **options):
        if options["plan"] or options["check_unapplied"] or options["prune"]:
            return super().handle(*args, **options)
        self.log = MigrationLog(
            database=options["database"],
            arguments={
                "app_label": options["app_label"],
                "migration_name": options["migration_name"],
                "fake": options["fake"],
                "fake_initial": options["fake_initial"],
                "run_syncdb": options["run_syncdb"],
            },
        )
        plans = []

        def remember_plan(sender, plan=None, using=None, **kwargs):
            if using == options["database"] and not plans:
                plans.append(plan or [])

        pre_migrate.connect(remember_plan, weak=False, dispatch_uid="operations.migration_log")
        try:
            super().handle(*args, **options)
        except CommandError:
            raise
        except Exception as exc:
            if not plans:  # stopped before planning: nothing ran, nothing to record
                raise
            self.log.planned(plans[0])
            step = self.log.failed_step
            run = self.log.record(error=exc)
            if not isinstance(exc, DatabaseError) or step is None:
                raise  # a bug (in a migration's code, say) keeps its traceback
            recorded = f"migration run #{run.pk} in the log" if run else "not logged"
            raise CommandError(
                f"migration {step['migration']} failed ({step['direction']}): "
                f"{first_line(exc)}. It was rolled back where the database allows; the "
                f"migrations before it stay applied ({recorded}).",
                returncode=1,
            ) from exc
        finally:
            pre_migrate.disconnect(dispatch_uid="operations.migration_log")
        self.log.planned(plans[0] if plans else [])
        run = self.log.record()
        if run is not None and self.verbosity >= 2:
            self.stdout.write(f"  Recorded as migration run #{run.pk}.")

    def migration_progress_callback(self, action, migration=None, fake=False):
        if self.log is not None:
            self.log.progress(action, migration, fake)
        super().migration_progress_callback(action, migration, fake)
