"""What validate_migration finds, as data: options, differences, per-entity results, the
report."""

from __future__ import annotations

import dataclasses
import datetime as dt

from migrator import child_process, source
from migrator.models import Entity, ValidationRun

ENTITIES = (Entity.PROVIDERS, Entity.MODELS, Entity.STATUSES)
BATCH_SIZE = 5000


@dataclasses.dataclass(frozen=True)
class Options:
    sources: tuple[str, ...] = ()
    entities: frozenset[str] = frozenset(ENTITIES)
    strict: bool = False
    float_tolerance: float = 0.0
    limit: int = 20
    actor: str = ""


@dataclasses.dataclass
class Difference:
    kind: str  # missing | extra | changed | orphan | integrity
    entity: str
    key: str
    changes: list[tuple[str, object, object]] = dataclasses.field(default_factory=list)
    detail: str = ""

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "entity": self.entity,
            "key": self.key,
            "changes": [
                {"field": f, "export": _jsonable(a), "database": _jsonable(b)}
                for f, a, b in self.changes
            ],
            "detail": self.detail,
        }


def _jsonable(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, int | float | str | bool | list | dict) or value is None:
        return value
    return str(value)


@dataclasses.dataclass
class EntityResult:
    entity: str
    checked: bool = False
    in_export: int = 0
    in_database: int = 0
    matched: int = 0
    missing: int = 0
    extra: int = 0
    changed: int = 0
    orphans: int = 0
    excused: int = 0
    merged: int = 0  # records of the export merged into another (the same model twice)
    seconds: float = 0.0

    def differences(self, *, strict: bool) -> int:
        return (
            self.missing
            + self.extra
            + self.changed
            + self.orphans
            + (self.excused if strict else 0)
        )

    def state(self, *, strict: bool) -> str:
        if not self.checked:
            return "skipped"
        return "validated" if self.differences(strict=strict) == 0 else "mismatched"

    def as_dict(self, *, strict: bool) -> dict:
        return dataclasses.asdict(self) | {
            "state": self.state(strict=strict),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.in_export / self.seconds) if self.seconds else 0,
        }


@dataclasses.dataclass
class Report:
    run: ValidationRun
    options: Options
    files: list[source.ExportFile]
    entities: dict[str, EntityResult]
    differences: list[Difference]
    difference_count: int
    integrity: dict[str, int]
    warnings: dict[str, int]
    warning_examples: list[str]
    known_rejects: list[dict]
    # validate_migration --against-database: the other database (masked URL); "" for an export.
    against: str = ""

    @property
    def passed(self) -> bool:
        return self.difference_count == 0

    def as_dict(self) -> dict:
        strict = self.options.strict
        return {
            "run": self.run.pk,
            "passed": self.passed,
            "readerPeakRssMb": round(child_process.children_peak_rss_mb(), 1),
            "strict": strict,
            "sources": [f.describe() for f in self.files],
            "againstDatabase": self.against or None,
            "entities": {e: r.as_dict(strict=strict) for e, r in self.entities.items()},
            "differenceCount": self.difference_count,
            "differences": [d.as_dict() for d in self.differences],
            "integrity": self.integrity,
            "warnings": self.warnings,
            "warningExamples": self.warning_examples,
            "knownRejects": self.known_rejects,
        }
