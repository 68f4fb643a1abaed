"""The one write service: API status writes and admin edits all come through here.

A write goes to the primary store (the one reads use) and, while dual-write is on, to the
secondary. The secondary's copy is never lost and never holds the response up: it is first put
in a durable queue that does not depend on that store (the journal file for the database, the
PendingWrite table for the JSON store), and a background drainer applies the queue in order. A
store that is down keeps its queue until it is back; ``switch_backend replay`` drains on demand.

Every write is validated once, before any store is touched, by the loader's own value rules
(migrator.mapping, database limits included): a write valid for one store is valid for both.
A queued write that its store still refuses after WRITE_MAX_ATTEMPTS tries is set aside as a
dead letter (live.dead_letters), so that the writes after it flow on.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import F, Min
from django.utils import timezone

from live import dead_letters, journal, maintenance, runtime
from live.stores import StoreNotWritable, WriteRefused, store, store_unavailable
from migrator import mapping
from migrator.errors import MigratorError, first_line
from migrator.models import Backend, PendingWrite, StoreWriteStats

logger = logging.getLogger(__name__)


class PrimaryUnavailable(MigratorError):
    """The store reads use could not take the write: nothing was written.

    The message (for the log) may name hosts and paths; ``category`` is what clients see.
    """

    def __init__(self, message: str, *, category: str):
        super().__init__(message)
        self.category = category


class PrimaryReadOnly(PrimaryUnavailable):
    """The store reads use is read-only here (a URL source, Vercel, the shipped sample): the
    write conflicts with how the service is set up, not a passing failure."""


class QueuedWriteRefused(MigratorError):
    """A queued write its store refused WRITE_MAX_ATTEMPTS times in a row."""

    def __init__(self, error: BaseException, attempts: int):
        super().__init__(first_line(error))
        self.attempts = attempts


@dataclasses.dataclass(frozen=True)
class WriteResult:
    primary: str
    secondary: str | None  # queued for it, when dual-write is on


def _operation(kind: str, **fields) -> dict:
    return {"id": uuid.uuid4().hex, "at": timezone.now().isoformat(), "kind": kind, **fields}


def status_write(*, model_slug: str, record: dict, actor: str = "") -> WriteResult:
    """A monitor's status for one model and region.

    Raises mapping.RecordError naming the field (before any store is touched) when the record
    breaks a rule of either store; a status write must say which ``status`` it is.
    """
    if isinstance(record, dict) and record.get("status") is None:
        raise mapping.RecordError("status is required", "status")
    mapping.map_status(record)
    return write(_operation("status", model=model_slug, record=record, actor=actor))


class AdminEditsBlocked(MigratorError):
    """Reads come from the JSON export and dual-write is off: an admin edit would not reach it."""


def admin_edits_blocked() -> str | None:
    """Why the admin may not edit the catalog now, or None."""
    state = runtime.current_state()
    if state.active == Backend.JSON and not state.dual_write:
        return (
            "Reads are served from the JSON export and dual-write is off, so an edit here would "
            "not reach what clients read. Turn dual-write on (switch_backend dual-write on) or "
            "switch reads to the database first."
        )
    return None


def admin_write(operation_kind: str, *, actor: str, **fields) -> WriteResult:
    """An admin edit, as the export record it becomes: the database first (the admin shows the
    database), then the JSON export when dual-write is on."""
    blocked = admin_edits_blocked()
    if blocked:
        raise AdminEditsBlocked(blocked)
    return write(_operation(operation_kind, actor=actor, **fields), primary=Backend.DATABASE)


def write(operation: dict, *, primary: str | None = None) -> WriteResult:
    """Apply ``operation`` to the primary store, queue it for the secondary (dual-write)."""
    maintenance.check_writable()
    state = runtime.current_state()
    primary = primary or state.active
    secondary = runtime.other_backend(primary) if state.dual_write else None
    # Writes the primary store still has queued must reach it first (order is kept per store).
    if _queued(primary):
        drain(primary)
    try:
        store(primary).apply(operation)
    except WriteRefused:
        raise
    except (DataError, IntegrityError) as exc:
        # Validation should have caught it: the values' fault, not a failing store.
        raise WriteRefused(f"the {primary} store refused the values: {first_line(exc)}") from exc
    except Exception as exc:
        stats.count(primary, succeeded=False, error=str(exc))
        logger.warning("event=primary_write_failed store=%s error=%r", primary, first_line(exc))
        if isinstance(exc, StoreNotWritable):
            raise PrimaryReadOnly(
                f"{primary} store: {first_line(exc)}", category=first_line(exc)
            ) from exc
        raise PrimaryUnavailable(
            f"{primary} store: {first_line(exc)}", category=f"{primary} unavailable"
        ) from exc
    stats.count(primary, succeeded=True)
    if secondary is not None:
        enqueue(secondary, operation)
        drainer.kick()
    return WriteResult(primary=primary, secondary=secondary)


def enqueue(store_name: str, operation: dict) -> None:
    """Keep ``operation`` for ``store_name`` durably, where that store's failure cannot reach."""
    if store_name == Backend.DATABASE:
        journal.append(operation)
    else:
        PendingWrite.objects.create(
            created_at=timezone.now(), store=store_name, operation=operation
        )


def _queued(store_name: str) -> bool:
    if store_name == Backend.DATABASE:
        return not journal.is_empty()
    try:
        return PendingWrite.objects.filter(store=store_name).exists()
    except DatabaseError:
        return False


def drain(store_name: str | None = None) -> dict[str, tuple[int, int, str]]:
    """Apply queued writes in order; ``{store: (applied, left, last error)}``."""
    results = {}
    for name in [store_name] if store_name else [Backend.DATABASE, Backend.JSON]:
        if name == Backend.DATABASE:
            results[name] = journal.replay(
                lambda op: _apply_queued(Backend.DATABASE, op),
                set_aside=lambda op, exc: _set_aside(Backend.DATABASE, op, exc),
            )
        else:
            results[name] = _drain_table(name)
    return results


def _apply_queued(store_name: str, operation: dict) -> None:
    """Apply one queued write; a refusal is tried WRITE_MAX_ATTEMPTS times, then raised as
    QueuedWriteRefused. A failing store (down, unreadable, not writable) raises as it is."""
    attempts = 0
    while True:
        attempts += 1
        try:
            store(store_name).apply(operation)
        except Exception as exc:
            stats.count(store_name, succeeded=False, error=str(exc))
            if store_unavailable(exc):
                if store_name == Backend.DATABASE:
                    connection.close()  # a broken connection must not be reused next time
                raise
            logger.warning(
                "event=queued_write_refused store=%s id=%s attempt=%s error=%r",
                store_name,
                operation.get("id"),
                attempts,
                first_line(exc),
            )
            if attempts >= settings.WRITE_MAX_ATTEMPTS:
                raise QueuedWriteRefused(exc, attempts) from exc
            continue
        stats.count(store_name, succeeded=True)
        return


def _set_aside(store_name: str, operation: dict, exc: BaseException) -> bool:
    """Move a refused queued write to the dead letters; False keeps it queued (not a refusal,
    or the dead letter could not be written)."""
    if not isinstance(exc, QueuedWriteRefused):
        return False
    try:
        dead_letters.dead_letter_create(
            store=store_name, operation=operation, error=str(exc), attempts=exc.attempts
        )
    except DatabaseError as error:
        logger.error("event=dead_letter_unwritten store=%s error=%r", store_name, str(error))
        return False
    return True


def _drain_table(store_name: str) -> tuple[int, int, str]:
    applied, error = 0, ""
    try:
        while True:
            with transaction.atomic():
                pending = (
                    PendingWrite.objects.select_for_update(skip_locked=True)
                    .filter(store=store_name)
                    .order_by("created_at", "id")
                    .first()
                )
                if pending is None:
                    break
                try:
                    _apply_queued(store_name, pending.operation)
                except QueuedWriteRefused as exc:
                    dead_letters.dead_letter_create(
                        store=store_name,
                        operation=pending.operation,
                        error=str(exc),
                        attempts=pending.attempts + exc.attempts,
                        queued_at=pending.created_at,
                    )
                    pending.delete()
                    continue
                except Exception as exc:
                    error = first_line(exc)
                    PendingWrite.objects.filter(pk=pending.pk).update(
                        attempts=F("attempts") + 1,
                        last_error=error,
                        last_attempt_at=timezone.now(),
                    )
                    break
                pending.delete()
                applied += 1
        left = PendingWrite.objects.filter(store=store_name).count()
    except DatabaseError as exc:
        return applied, -1, first_line(exc)
    return applied, left, error


def dead_letter_counts() -> dict[str, int]:
    """Unresolved dead letters per store (only stores that have some)."""
    return dead_letters.unresolved_counts()


def queue_status() -> dict:
    """Depth and oldest entry of each store's queue."""
    entries = journal.entries()
    status = {
        Backend.DATABASE: {
            "queued": len(entries),
            "oldest": entries[0].get("at") if entries else None,
            "queue": str(journal.path()),
        }
    }
    try:
        pending = PendingWrite.objects.filter(store=Backend.JSON)
        summary = pending.aggregate(oldest=Min("created_at"))
        status[Backend.JSON] = {
            "queued": pending.count(),
            "oldest": summary["oldest"].isoformat() if summary["oldest"] else None,
            "queue": "database table migrator_pendingwrite",
        }
    except DatabaseError as exc:
        status[Backend.JSON] = {"queued": None, "oldest": None, "error": first_line(exc)}
    return status


class Stats:
    """Writes attempted and succeeded per store: counted here, added to the database's counters
    whenever it answers (counts made while it is down are kept until then)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._unsaved: dict[str, list] = {}

    def count(self, store_name: str, *, succeeded: bool, error: str = "") -> None:
        with self._lock:
            entry = self._unsaved.setdefault(store_name, [0, 0, "", None])
            entry[0] += 1
            entry[1] += int(succeeded)
            if error:
                entry[2], entry[3] = first_line(Exception(error))[:2000], timezone.now()
        self.save()

    def save(self) -> None:
        with self._lock:
            unsaved, self._unsaved = self._unsaved, {}
        try:
            for name, (attempted, succeeded, error, error_at) in unsaved.items():
                StoreWriteStats.objects.get_or_create(store=name)
                changes = {
                    "attempted": F("attempted") + attempted,
                    "succeeded": F("succeeded") + succeeded,
                }
                if error:
                    changes |= {"last_error": error, "last_error_at": error_at}
                StoreWriteStats.objects.filter(store=name).update(**changes)
        except DatabaseError:
            with self._lock:  # keep them for the next time the database answers
                for name, values in unsaved.items():
                    entry = self._unsaved.setdefault(name, [0, 0, "", None])
                    entry[0] += values[0]
                    entry[1] += values[1]
                    if values[2]:
                        entry[2], entry[3] = values[2], values[3]


stats = Stats()


class Drainer:
    """A daemon thread per worker that applies queued writes soon after they are queued, and
    every ``WRITE_RETRY_SECONDS`` while any are left (a store that was down comes back)."""

    def __init__(self):
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def kick(self) -> None:
        """Drain soon: now, and again once the caller's transaction commits, if it is in one.
        The drainer reads the queue on its own connection, so a write queued in a transaction
        (an admin save) is not there for it until the commit; woken only before, it would find
        nothing and wait for the next write. Waking early is harmless, and the journal (a file,
        the database's queue) does not wait for any commit."""
        if not settings.WRITE_QUEUE_IN_BACKGROUND:
            drain()  # same connection: it sees the caller's uncommitted write
            return
        self._wake_thread()
        if connection.in_atomic_block:  # no query: a database that is down does not matter
            transaction.on_commit(self._wake_thread)

    def _wake_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="write-drainer", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(timeout=settings.WRITE_RETRY_SECONDS)
            self._wake.clear()
            try:
                results = drain()
                stats.save()
            except Exception:
                logger.exception("event=drain_failed")
                continue
            finally:
                connection.close()
            if all(left == 0 for _, left, _ in results.values()):
                self._wake.wait()  # idle until the next write


drainer = Drainer()
