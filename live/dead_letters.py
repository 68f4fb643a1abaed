"""Dead letters: queued writes a store refused again and again, set aside so that later writes
flow past them. Each waits for an operator, who retries it (applied now, to its store) or
discards it with a reason; both are audited. ``switch_backend replay`` and ``status`` report
them, and a switch to the database is refused while any is unresolved.
"""

from __future__ import annotations

import logging

from django.db.models import Count
from django.utils import timezone

from catalog.errors import first_line
from live.stores import store
from migrator.errors import MigratorError
from migrator.models import AuditEntry, DeadLetter

logger = logging.getLogger(__name__)


def dead_letter_create(
    *, store: str, operation: dict, error: str, attempts: int, queued_at=None
) -> DeadLetter:
    """Set a refused write aside (one log line)."""
    letter = DeadLetter.objects.create(
        store=store,
        operation=operation,
        error=error[:4000],
        attempts=attempts,
        queued_at=queued_at or operation.get("at"),
    )
    logger.error(
        "event=dead_letter id=%s store=%s operation=%s attempts=%s error=%r",
        letter.pk,
        store,
        operation.get("id"),
        attempts,
        error[:300],
    )
    return letter


def unresolved_counts() -> dict[str, int]:
    rows = DeadLetter.objects.filter(resolution="").values("store").annotate(n=Count("id"))
    return {row["store"]: row["n"] for row in rows.order_by("store")}


def _audit(letter: DeadLetter, *, action: str, actor: str, reason: str) -> None:
    AuditEntry.objects.create(
        actor=actor,
        action=action,
        reason=reason,
        before={"deadLetter": letter.pk, "store": letter.store, "error": letter.error},
        after={"resolution": letter.resolution, "operation": letter.operation.get("id")},
    )


def dead_letter_retry(*, letter: DeadLetter, actor: str) -> bool:
    """Apply the write to its store now: True (resolved) if it took it, else the new error."""
    if letter.resolution:
        raise MigratorError(f"dead letter #{letter.pk} is already {letter.resolution}")
    try:
        store(letter.store).apply(letter.operation)
    except Exception as exc:
        letter.error = first_line(exc)[:4000]
        letter.attempts += 1
        letter.save(update_fields=["error", "attempts"])
        _audit(letter, action="dead letter retry failed", actor=actor, reason=letter.error)
        return False
    letter.resolution = DeadLetter.Resolution.RETRIED
    letter.resolved_at = timezone.now()
    letter.resolved_by = actor
    letter.resolution_reason = "retried: applied"
    letter.save()
    _audit(letter, action="dead letter retried", actor=actor, reason="applied on retry")
    return True


def dead_letter_discard(*, letter: DeadLetter, actor: str, reason: str) -> None:
    """Give the write up, saying why (the reason is required and audited)."""
    if not reason.strip():
        raise MigratorError("a reason is required to discard a dead letter")
    if letter.resolution:
        raise MigratorError(f"dead letter #{letter.pk} is already {letter.resolution}")
    letter.resolution = DeadLetter.Resolution.DISCARDED
    letter.resolved_at = timezone.now()
    letter.resolved_by = actor
    letter.resolution_reason = reason
    letter.save()
    _audit(letter, action="dead letter discarded", actor=actor, reason=reason)
