"""Which store serves reads, right now: the state row, cached for about a second per worker.

Changes go through :func:`state_change`, which updates the one state row and appends an audit
entry in the same transaction. Every worker re-reads the row at most ``BACKEND_STATE_TTL``
seconds after its last read, so a switch or a rollback reaches all of them within that time,
with no restart. If the row cannot be read (database down), a worker keeps the last state it
saw, or the environment's defaults (DATA_BACKEND, DUAL_WRITE) if it never saw one.

``DATA_BACKEND_OVERRIDE`` (an emergency setting) wins over the row in every worker while it is
set: reads come from that store, the canary is off and the guard stands still. The first serving
worker to see a new value (set or cleared) records it in the row and the audit log, once (a
conditional update); operator commands, whose environment may differ, only read it from there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from migrator.errors import first_line
from migrator.models import AuditEntry, Backend, BackendState

logger = logging.getLogger(__name__)

# The product plan's thresholds for automatic rollback.
DEFAULT_THRESHOLDS = {
    "error_rate": 0.10,  # more than 10% of reads failing
    "p95_seconds": 2.0,  # p95 latency above 2 s
    "mismatches": 0,  # any shadow mismatch
    "window_seconds": 60,
    "min_requests": 20,
}
STATE_FIELDS = (
    "active",
    "previous",
    "dual_write",
    "canary_enabled",
    "canary_header",
    "canary_value",
    "canary_percent",
    "shadow_enabled",
    "shadow_sample",
    "auto_rollback",
    "thresholds",
    "maintenance",
)


@dataclasses.dataclass(frozen=True)
class State:
    active: str
    previous: str = ""
    dual_write: bool = False
    canary_enabled: bool = False
    canary_header: str = "X-Canary"
    canary_value: str = "canary=true"
    canary_percent: float = 0.0
    shadow_enabled: bool = False
    shadow_sample: float = 0.0
    auto_rollback: bool = False
    thresholds: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    maintenance: bool = False
    version: int = 0
    source: str = "database"  # where this worker got it: database | last-seen | environment
    override: str = ""  # DATA_BACKEND_OVERRIDE, when set: it decides ``active``
    override_seen: str = ""  # the override the serving workers last reported
    changed_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: BackendState) -> State:
        values = {name: getattr(row, name) for name in STATE_FIELDS}
        values["thresholds"] = DEFAULT_THRESHOLDS | (row.thresholds or {})
        return cls(
            **values,
            version=row.version,
            changed_at=row.updated_at,
            override_seen=row.override_seen,
        )

    @classmethod
    def from_environment(cls) -> State:
        return cls(
            active=settings.DATA_BACKEND, dual_write=settings.DUAL_WRITE, source="environment"
        )

    def overridden(self) -> State:
        """This state as the environment's override makes it (itself when none is set)."""
        override = settings.DATA_BACKEND_OVERRIDE
        if not override:
            return self
        return dataclasses.replace(self, active=override, canary_enabled=False, override=override)

    @property
    def other(self) -> str:
        return other_backend(self.active)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def other_backend(name: str) -> str:
    return Backend.DATABASE if name == Backend.JSON else Backend.JSON


# Set by the web workers (live.middleware): only processes that serve report the override.
serving = False

_lock = threading.Lock()
_cached: State | None = None
_read_at = 0.0
_unreadable_logged = False


def current_state() -> State:
    """The state as this worker knows it (re-read when older than BACKEND_STATE_TTL), with the
    environment's override applied."""
    return _stored_state().overridden()


def _stored_state() -> State:
    global _cached, _read_at, _unreadable_logged
    with _lock:
        now = time.monotonic()
        if _cached is not None and now - _read_at < settings.BACKEND_STATE_TTL:
            return _cached
        _read_at = now
        try:
            row = BackendState.objects.filter(pk=1).first()
        except DatabaseError as exc:
            if not _unreadable_logged:
                logger.warning(
                    "event=state_unreadable error=%r keeping=%s",
                    first_line(exc),
                    "last-seen" if _cached else "environment",
                )
                _unreadable_logged = True
            if _cached is None or _cached.source == "environment":
                _cached = State.from_environment()
            else:
                _cached = dataclasses.replace(_cached, source="last-seen")
            return _cached
        _unreadable_logged = False
        _cached = State.from_row(row) if row is not None else State.from_environment()
        seen = row.override_seen if row is not None else ""
    if serving and seen != settings.DATA_BACKEND_OVERRIDE:
        _record_override(seen)
    return _cached


def _record_override(seen: str) -> None:
    """Audit a new DATA_BACKEND_OVERRIDE value, once for the whole service."""
    override = settings.DATA_BACKEND_OVERRIDE
    try:
        with transaction.atomic():
            _state_row()
            changed = (
                BackendState.objects.filter(pk=1, override_seen=seen)
                .exclude(override_seen=override)
                .update(override_seen=override)
            )
            if changed:
                AuditEntry.objects.create(
                    actor="environment",
                    action=f"override {override}" if override else "override cleared",
                    reason=(
                        f"DATA_BACKEND_OVERRIDE={override}: reads from {override} in every "
                        "worker while it is set"
                        if override
                        else "DATA_BACKEND_OVERRIDE is no longer set: the state row decides"
                    ),
                    before={"override": seen},
                    after={"override": override},
                )
                logger.warning("event=override_seen override=%s", override or "(none)")
    except DatabaseError as exc:
        logger.warning("event=override_unrecorded error=%r", first_line(exc))


def _state_row() -> None:
    """Create the state row from the environment's defaults if there is none yet."""
    environment = State.from_environment()
    BackendState.objects.get_or_create(
        pk=1,
        defaults={
            "active": environment.active,
            "dual_write": environment.dual_write,
            "thresholds": dict(DEFAULT_THRESHOLDS),
        },
    )


def forget_state() -> None:
    """Make the next current_state() read the row (after a change made in this process)."""
    global _cached
    with _lock:
        _cached = None


def stored_state() -> State:
    """The state row as it is now (no cache, no override); the environment's when none."""
    row = BackendState.objects.filter(pk=1).first()
    return State.from_row(row) if row is not None else State.from_environment()


def state_change(
    *,
    action: str,
    reason: str,
    actor: str,
    forced: bool = False,
    expect_version: int | None = None,
    **changes,
) -> State | None:
    """Change the state and append the audit entry, together; returns the new state.

    With ``expect_version``, only if the row is still at that version (else None, nothing
    written): of several workers that judge the same incident, one changes the state.
    """
    if not reason.strip():
        raise ValueError("a reason is required for every change")
    unknown = set(changes) - set(STATE_FIELDS)
    if unknown:
        raise ValueError(f"not state fields: {sorted(unknown)}")
    with transaction.atomic():
        _state_row()
        row = BackendState.objects.select_for_update().get(pk=1)
        if expect_version is not None and row.version != expect_version:
            return None
        before = _snapshot(row)
        if "active" in changes and changes["active"] != row.active:
            row.previous = row.active  # informational: rollback always goes to JSON
        for name, value in changes.items():
            if name != "previous":
                setattr(row, name, value)
        # A conditional update: two writers that read the same version cannot both win, on
        # SQLite (no row locks) as on PostgreSQL.
        row.updated_at = timezone.now()
        won = BackendState.objects.filter(pk=1, version=row.version).update(
            **{name: getattr(row, name) for name in STATE_FIELDS},
            version=row.version + 1,
            updated_at=row.updated_at,
        )
        if not won:
            if expect_version is not None:
                return None
            raise ValueError("the state changed meanwhile: run the command again")
        row.version += 1
        AuditEntry.objects.create(
            actor=actor,
            action=action,
            reason=reason,
            forced=forced,
            before=before,
            after=_snapshot(row),
        )
    forget_state()
    logger.info(
        "event=state_change action=%s actor=%s forced=%s active=%s version=%s",
        action,
        actor,
        forced,
        row.active,
        row.version,
    )
    return State.from_row(row)


def _snapshot(row: BackendState) -> dict:
    return {name: getattr(row, name) for name in STATE_FIELDS} | {"version": row.version}
