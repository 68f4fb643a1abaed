"""The scheduled sync for hosts whose cron calls a URL (Vercel), in the same direction as
bin/sync-export: while reads come from JSON, backfill_json then validate_migration (refused
when they would not finish within the function's time limit); once they come from the database,
the database's export published to the export's Git repository (operations.publish)."""

from __future__ import annotations

import json
from io import StringIO

from django.core.management import call_command
from django.core.management.base import CommandError

from migrator.direction import database_is_truth
from migrator.errors import MigratorError
from migrator.models import BackfillRun, ValidationRun
from operations.publish import publish_export

# Refuse when the previous sync took more than this share of the limit (exports grow).
MARGIN = 0.8


class SyncRefused(Exception):
    """The sync would not finish within the time limit (or nothing tells how long it takes)."""


def previous_sync_seconds() -> float | None:
    """How long the latest complete backfill and validation took together; None if either
    never finished."""
    backfill = (
        BackfillRun.objects.filter(
            dry_run=False,
            outcome__in=[BackfillRun.Outcome.SUCCEEDED, BackfillRun.Outcome.REJECTED],
        )
        .order_by("-started_at", "-id")
        .first()
    )
    validation = (
        ValidationRun.objects.filter(passed__isnull=False, complete=True)
        .order_by("-started_at", "-id")
        .first()
    )
    if backfill is None or validation is None:
        return None
    return sum((run.finished_at - run.started_at).total_seconds() for run in (backfill, validation))


def _run(name: str, *args) -> tuple[int, dict | None, str]:
    """A command as bin/sync-export runs it: (exit status, its JSON report, its error)."""
    out = StringIO()
    try:
        call_command(name, *args, "--format", "json", stdout=out, stderr=StringIO())
    except CommandError as exc:
        code, error = exc.returncode, str(exc)
    else:
        code, error = 0, ""
    try:
        document = json.loads(out.getvalue())
    except ValueError:
        document = None
    return code, document, error


def sync_export(*, time_limit: float) -> dict:
    """The sync in the direction of the source of truth. While reads come from JSON: load the
    export and validate it, the outcome of each (SyncRefused before starting when the previous
    sync says it would not fit in ``time_limit`` seconds). Once they come from the database:
    publish the database's export to the export's Git repository."""
    if database_is_truth():
        return _publish()
    estimate = previous_sync_seconds()
    if estimate is None:
        raise SyncRefused(
            "no complete sync has run yet, so nothing tells how long one takes: run "
            "bin/sync-export once from a host without a time limit (a shell, Render's cron)"
        )
    if estimate > time_limit * MARGIN:
        raise SyncRefused(
            f"the previous sync took {estimate:.1f} s, more than {MARGIN:.0%} of this "
            f"function's {time_limit:g} s (CRON_TIME_LIMIT): run bin/sync-export from a host "
            "without a time limit"
        )
    loaded, backfill, backfill_error = _run("backfill_json")
    result = {
        "ok": False,
        "direction": "load",
        "estimatedSeconds": round(estimate, 1),
        "backfill": {
            "exitStatus": loaded,
            "run": backfill and backfill.get("run"),
            "outcome": backfill and backfill.get("outcome"),
            "error": backfill_error or None,
        },
        "validation": None,
    }
    if loaded > 1:  # 1: records rejected (kept, and excused by the validation)
        return result
    validated, validation, validation_error = _run("validate_migration")
    result["validation"] = {
        "exitStatus": validated,
        "run": validation and validation.get("run"),
        "passed": validation and validation.get("passed"),
        "error": validation_error or None,
    }
    result["ok"] = validated == 0
    return result


def _publish() -> dict:
    try:
        published = publish_export(actor="cron")
    except MigratorError as exc:
        return {"ok": False, "direction": "publish", "publish": None, "error": str(exc)}
    return {"ok": True, "direction": "publish", "publish": published.as_dict(), "error": None}
