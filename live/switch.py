"""switch_backend's work: the checks before a switch, and each change of the backend state."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from live import runtime, writes
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
    return problems


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


def rollback(*, reason: str, actor: str) -> runtime.State:
    """Back to the previous store at once: no checks, canary off."""
    state = runtime.current_state()
    target = state.previous or state.other
    if state.active == target and not state.canary_enabled:
        target = state.other
    return runtime.state_change(
        action="rollback", reason=reason, actor=actor, active=target, canary_enabled=False
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


def status() -> dict:
    """Everything an operator needs before and after a change, as one document."""
    state = runtime.current_state()
    run, covers, why = latest_validation()
    shadow_stats = ShadowStats.objects.filter(pk=1).first()
    return {
        "state": state.as_dict(),
        "queue": writes.queue_status(),
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
    }
