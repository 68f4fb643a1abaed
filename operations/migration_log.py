"""The migration log: what one `migrate` run did, step by step, written when it ends."""

from __future__ import annotations

import dataclasses
import time

from django.db import DatabaseError, connections
from django.utils import timezone

from config.database import mask_url
from migrator.errors import first_line
from migrator.processes import current_host
from migrator.runs import operator_name
from operations.models import MigrationRun


def migration_name(migration) -> str:
    return f"{migration.app_label}.{migration.name}"


@dataclasses.dataclass
class MigrationLog:
    """Collects a run's plan and steps (fed by the migrate command) and records them."""

    database: str
    arguments: dict
    started_at: object = dataclasses.field(default_factory=timezone.now)
    started: float = dataclasses.field(default_factory=time.monotonic)
    plan: list = dataclasses.field(default_factory=list)
    steps: list = dataclasses.field(default_factory=list)
    _step_started: float = 0.0

    def planned(self, plan) -> None:
        """Django's plan: (migration, backwards) pairs."""
        self.plan = [
            [migration_name(migration), "unapply" if backwards else "apply"]
            for migration, backwards in plan
        ]

    def progress(self, action: str, migration=None, fake: bool = False) -> None:
        """The executor's progress callback: apply/unapply start and success."""
        if action in ("apply_start", "unapply_start"):
            self._step_started = time.monotonic()
            self.steps.append(
                {
                    "migration": migration_name(migration),
                    "direction": action.removesuffix("_start"),
                    "seconds": None,
                    "outcome": "running",
                    "fake": fake,
                }
            )
        elif action in ("apply_success", "unapply_success") and self.steps:
            self.steps[-1]["seconds"] = round(time.monotonic() - self._step_started, 3)
            self.steps[-1]["outcome"] = "faked" if fake else "done"

    @property
    def failed_step(self) -> dict | None:
        if self.steps and self.steps[-1]["outcome"] == "running":
            return self.steps[-1]
        return None

    def record(self, *, error: BaseException | None = None) -> MigrationRun | None:
        """Write the run to the log; None when the log's table does not exist in this database
        (its own app migrated to zero, or never migrated)."""
        step = self.failed_step
        if step is not None:
            step["outcome"] = "failed"
            step["seconds"] = round(time.monotonic() - self._step_started, 3)
        connection = connections[self.database]
        try:
            with connection.cursor() as cursor:
                tables = connection.introspection.table_names(cursor)
            if MigrationRun._meta.db_table not in tables:
                return None
            return MigrationRun.objects.using(self.database).create(
                started_at=self.started_at,
                finished_at=timezone.now(),
                seconds=round(time.monotonic() - self.started, 3),
                actor=operator_name(),
                host=current_host(),
                database=describe_database(self.database),
                arguments=self.arguments,
                plan=self.plan,
                steps=self.steps,
                outcome=MigrationRun.Outcome.FAILED if error else MigrationRun.Outcome.SUCCEEDED,
                error="" if error is None else _error_text(error, step),
            )
        except DatabaseError:
            return None


def _error_text(error: BaseException, step: dict | None) -> str:
    where = f"{step['migration']} ({step['direction']}): " if step else ""
    return f"{where}{type(error).__name__}: {first_line(error)}"


def describe_database(alias: str = "default") -> str:
    """Vendor and name of a database, never its password."""
    settings = connections[alias].settings_dict
    name = str(settings.get("NAME") or "")
    host = settings.get("HOST") or ""
    where = f"{host}/{name}" if host else name
    return f"{connections[alias].vendor} {mask_url(where)}"
