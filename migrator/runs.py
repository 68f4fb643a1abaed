"""What backfill_json and validate_migration record about a run: who ran it, and which runs
were interrupted."""

from __future__ import annotations

import dataclasses
import getpass

from django.db import transaction
from django.utils import timezone

from migrator.models import BackfillRun
from migrator.processes import current_host, is_alive


class Throughput:
    """For a run's per-entity (or per-table) counts, a dataclass with ``read`` and ``seconds``:
    its rows per second, and its JSON form."""

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self) | {
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second),
        }


def operator_name(given: str | None = None) -> str:
    """Who runs an operator command: ``--actor``, else the OS user."""
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def backfill_runs_mark_interrupted() -> list[int]:
    """Runs still marked running whose process on this host is gone become ``interrupted``;
    returns their ids. Runs of other hosts are left alone: their processes cannot be seen."""
    host = current_host()
    gone = [
        run
        for run in BackfillRun.objects.filter(
            outcome=BackfillRun.Outcome.RUNNING, host=host, pid__isnull=False
        )
        if not is_alive(run.pid, started_at=run.started_at.timestamp())
    ]
    now = timezone.now()
    marked = []
    with transaction.atomic():
        for run in gone:
            # Only if it is still "running" now (a concurrent check may have marked it).
            updated = BackfillRun.objects.filter(
                pk=run.pk, outcome=BackfillRun.Outcome.RUNNING
            ).update(
                outcome=BackfillRun.Outcome.INTERRUPTED,
                finished_at=now,
                error=f"process {run.pid} on {host} is gone without finishing (killed or "
                "crashed); its committed batches are kept, and the next run completes the load",
            )
            if updated:
                marked.append(run.pk)
    return marked
