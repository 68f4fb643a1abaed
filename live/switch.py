"""switch_backend's work: the checks before a switch, and each change of the backend state."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from catalog.models import Model
from live import counters, runtime, targets, writes
from migrator import source
from migrator.errors import MigratorError, SourceError
from migrator.models import AuditEntry, Backend, ShadowMismatch, ShadowStats, ValidationRun


class SwitchRefused(MigratorError):
    """A switch to the database whose preconditions do not hold (and no --force)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def latest_validation() -> tuple[ValidationRun | None, bool | None, str]:
    """The latest complete validation, whether it covers the export as it is now, and why not."""
    run = ValidationRun.objects.filter(complete=True, finished_at__isnull=False).first()
    if run is None:
        return None, None, "no complete validate_migration run yet"
    try:
        files = source.resolve(source.default_sources(settings))
        current = source.export_checksums(files)
    except SourceError as exc:
        return run, None, f"cannot read the current export: {exc}"
    validated = {s["file"]: s["sha256"] for s in run.sources}
    changed = sorted(name for name, digest in current.items() if validated.get(name) != digest)
    if changed or set(validated) != set(current):
        return run, False, f"the export changed since validation #{run.pk} ({', '.join(changed)})"
    return run, True, ""


def readiness() -> list[str]:
    """Why reads may not move to the database now (empty: they may)."""
    problems = []
    run, covers, why = latest_validation()
    if run is None or covers is None:
        problems.append(why)
    elif not run.passed:
        problems.append(f"the latest validation (#{run.pk}) failed: run validate_migration")
    elif not covers:
        problems.append(why + ": run validate_migration again")
    queued = {name: q["queued"] for name, q in writes.queue_status().items()}
    pending = {name: n for name, n in queued.items() if n}
    if pending:
        problems.append(
            "secondary writes are pending ("
            + ", ".join(f"{n} for {name}" for name, n in pending.items())
            + "): run switch_backend replay"
        )
    dead = writes.dead_letter_counts()
    if dead:
        problems.append(
            "dead letters are unresolved ("
            + ", ".join(f"{n} for {name}" for name, n in dead.items())
            + "): retry or discard them in the admin (Dead letters)"
        )
    return problems


def canary_warnings() -> list[str]:
    """What makes a canary on the database risky now (it is allowed all the same)."""
    warnings = []
    if not Model.objects.exists():
        warnings.append("the database holds no models: run backfill_json first")
    warnings += [p for p in readiness() if p not in warnings]
    return warnings


def switch(
    *, to: str, reason: str, actor: str, force: bool = False, auto_rollback: bool | None = None
) -> runtime.State:
    problems = readiness() if to == Backend.DATABASE else []
    if problems and not force:
        raise SwitchRefused(problems)
    if problems:
        reason = f"{reason} [forced past: {'; '.join(problems)}]"
    changes = {"active": to}
    if auto_rollback is not None:
        changes["auto_rollback"] = auto_rollback
    return runtime.state_change(
        action=f"switch to {to}", reason=reason, actor=actor, forced=bool(problems), **changes
    )


def rollback(
    *, reason: str, actor: str, expect_version: int | None = None, **changes
) -> runtime.State | None:
    """Every read back to JSON, the rollback target, at once: no checks, canary off.

    Idempotent: when reads already come from JSON with no canary, nothing changes and None is
    returned (so too, with ``expect_version``, when the state moved meanwhile).
    """
    state = runtime.stored_state()
    if state.active == Backend.JSON and not state.canary_enabled:
        return None
    return runtime.state_change(
        action=changes.pop("action", "rollback"),
        reason=reason,
        actor=actor,
        expect_version=expect_version,
        active=Backend.JSON,
        canary_enabled=False,
        **changes,
    )


def auto_rollback(
    *,
    reason: str,
    actor: str,
    enabled: bool | None = None,
    error_rate: float | None = None,
    p95_ms: float | None = None,
    min_requests: int | None = None,
    window: float | None = None,
) -> runtime.State:
    """Turn the guard on or off and set its thresholds (error rate in percent, p95 in ms)."""
    thresholds = dict(runtime.stored_state().thresholds)
    limits = (
        ("error_rate", error_rate, 0, 100, "--error-rate must be a percentage, 0-100", 0.01),
        ("p95_seconds", p95_ms, 1, 600_000, "--p95-ms must be 1-600000 (milliseconds)", 0.001),
        ("min_requests", min_requests, 1, 10**9, "--min-requests must be at least 1", 1),
        ("window_seconds", window, 10, 86_400, "--window must be 10-86400 seconds", 1),
    )
    for name, value, low, high, message, scale in limits:
        if value is None:
            continue
        if not low <= value <= high:
            raise MigratorError(message)
        thresholds[name] = int(value) if scale == 1 else value * scale
    changes: dict = {"thresholds": thresholds}
    if enabled is not None:
        changes["auto_rollback"] = enabled
    return runtime.state_change(
        action="auto-rollback settings", reason=reason, actor=actor, **changes
    )


def maintenance(*, enabled: bool, reason: str, actor: str) -> runtime.State:
    """Every write answers 503 while on (reads go on): around schema changes that need it."""
    return runtime.state_change(
        action=f"maintenance {'on' if enabled else 'off'}",
        reason=reason,
        actor=actor,
        maintenance=enabled,
    )


def canary(
    *,
    enabled: bool,
    reason: str,
    actor: str,
    header: str | None = None,
    value: str | None = None,
    percent: float | None = None,
    auto_rollback: bool | None = None,
) -> runtime.State:
    changes: dict = {"canary_enabled": enabled}
    if header is not None:
        changes["canary_header"] = header
    if value is not None:
        changes["canary_value"] = value
    if percent is not None:
        if not 0 <= percent <= 100:
            raise MigratorError("--percent must be between 0 and 100")
        changes["canary_percent"] = percent
    if auto_rollback is not None:
        changes["auto_rollback"] = auto_rollback
    action = "canary enable" if enabled else "canary disable"
    return runtime.state_change(action=action, reason=reason, actor=actor, **changes)


def dual_write(*, enabled: bool, reason: str, actor: str) -> runtime.State:
    return runtime.state_change(
        action=f"dual-write {'on' if enabled else 'off'}",
        reason=reason,
        actor=actor,
        dual_write=enabled,
    )


def shadow(
    *,
    enabled: bool,
    reason: str,
    actor: str,
    sample: float | None = None,
    auto_rollback: bool | None = None,
) -> runtime.State:
    changes: dict = {"shadow_enabled": enabled}
    if sample is not None:
        if not 0 < sample <= 100:
            raise MigratorError("--sample must be a percentage above 0 and at most 100")
        changes["shadow_sample"] = sample
    if auto_rollback is not None:
        changes["auto_rollback"] = auto_rollback
    if enabled:  # a fresh count for a new shadowing period
        ShadowStats.objects.update_or_create(
            pk=1, defaults={"compared": 0, "mismatched": 0, "since": timezone.now()}
        )
        ShadowMismatch.objects.all().delete()
    return runtime.state_change(
        action=f"shadow {'on' if enabled else 'off'}", reason=reason, actor=actor, **changes
    )


def state_document(state: runtime.State) -> dict:
    """The state in the API's key style (camelCase), as status and the admin show it."""
    t = state.thresholds
    return {
        "active": state.active,
        "override": state.override or None,
        "overrideInServingWorkers": state.override_seen or None,
        "previous": state.previous or None,
        "dualWrite": state.dual_write,
        "canaryEnabled": state.canary_enabled,
        "canaryHeader": state.canary_header,
        "canaryValue": state.canary_value,
        "canaryPercent": state.canary_percent,
        "shadowEnabled": state.shadow_enabled,
        "shadowSample": state.shadow_sample,
        "autoRollback": state.auto_rollback,
        "thresholds": {
            "errorRatePercent": round(t["error_rate"] * 100, 6),
            "p95Ms": round(t["p95_seconds"] * 1000, 3),
            "minRequests": t["min_requests"],
            "windowSeconds": t["window_seconds"],
            "mismatches": t["mismatches"],
        },
        "maintenance": state.maintenance,
        "version": state.version,
        "source": state.source,
    }


def guard_document(state: runtime.State) -> dict:
    """The database's reads over the guard's window, across every worker."""
    seconds = state.thresholds["window_seconds"]
    window = counters.window(Backend.DATABASE, seconds)
    return {
        "windowSeconds": seconds,
        "requests": window.requests,
        "errors": window.errors,
        "errorRatePercent": None
        if window.error_rate is None
        else round(window.error_rate * 100, 2),
        "p95Ms": None if window.p95_seconds is None else window.p95_seconds * 1000,
        "mismatches": window.mismatches,
    }


def status() -> dict:
    """Everything an operator needs before and after a change, as one document (camelCase)."""
    counters.flush()
    state = runtime.current_state()
    run, covers, why = latest_validation()
    shadow_stats = ShadowStats.objects.filter(pk=1).first()
    return {
        "state": state_document(state),
        "queue": writes.queue_status(),
        "deadLetters": writes.dead_letter_counts(),
        "guard": guard_document(state),
        "latestValidation": None
        if run is None
        else {
            "id": run.pk,
            "passed": run.passed,
            "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
            "coversCurrentExport": covers,
            "note": why,
        },
        "readyForDatabase": readiness(),
        "shadow": {
            "compared": shadow_stats.compared if shadow_stats else 0,
            "mismatched": shadow_stats.mismatched if shadow_stats else 0,
            "examples": list(ShadowMismatch.objects.values("at", "path", "difference")[:5]),
        },
        "audit": list(AuditEntry.objects.values("at", "actor", "action", "reason", "forced")[:10]),
        "targets": targets.evaluate(),
        "alerts": targets.active(),
    }
