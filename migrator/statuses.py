"""The reading side of backfill_json's statuses pass: parse, check, fingerprint and map.

This is where the time goes for a large export (millions of records, each parsed, hashed and
checked in Python), and none of it needs the parent's database connection: it runs in a forked
child (migrator.child_process) that sends whole-model batches to the parent, which writes them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

from catalog.models import GLOBAL_REGION
from migrator import child_process, mapping, source
from migrator.models import Entity
from migrator.rejects import Reject


@dataclasses.dataclass
class Prepared:
    """One batch of whole models. Each item is ``(model id, region, fingerprint, values,
    warnings)``: values in STATUS_COLUMNS order and driver-ready (see Preparer), or None when
    the record's fingerprint is already stored (unchanged: nothing to map); warnings are the
    data-quality remarks on the record (None for none)."""

    items: list[tuple]
    models: list[int]
    rejects: list[Reject]
    read: int
    bytes_read: int


@dataclasses.dataclass
class Finished:
    """The file was read to its end: what it turned out to be."""

    envelope: dict
    size: int | None
    sha256: str | None


def batches_of(batches, export_file: source.ExportFile, *, name: str) -> Iterator:
    """The batches a reader (Preparer, Checker) makes, computed in a forked child; once the
    child has read the file to its end, its envelope, size and checksum are set here."""
    for message in child_process.in_child(batches, name=name, describe=export_file.shown):
        if isinstance(message, Finished):
            export_file.envelope = message.envelope
            export_file.size, export_file.sha256 = message.size, message.sha256
            return
        yield message


def status_values(raw, region: str) -> tuple:
    """The record's column values; raises RecordError naming the field when it is rejected."""
    values = mapping.status_values(raw, region)
    if values is None:
        row = mapping.map_status(raw)
        values = tuple(row[column] for column in mapping.STATUS_COLUMNS)
    return values


def status_warnings(values: tuple, raw, *, now: dt.datetime) -> list[str]:
    """values: STATUS_COLUMNS order (region, status, availability, p50, p95, p99, ...)."""
    found = mapping.status_warnings(values[3], values[4], values[5], values[10], now=now)
    if raw == {}:
        found.append("empty status object: loaded as unknown, nothing measured")
    return found


class Preparer:
    """Turns model-status.json into Prepared batches, without the parent's database connection.

    ``ready`` makes mapped values driver-ready (tables.ready_converter), so that the process
    that writes hands them to COPY as they are. ``fingerprints`` (a FingerprintReader, opened in
    the reading process) tells which records are stored as they are: those are not mapped."""

    def __init__(
        self,
        export_file: source.ExportFile,
        model_ids: dict[str, int],
        batch_size: int,
        now: dt.datetime,
        ready=None,
        fingerprints=None,
    ):
        self.export_file = export_file
        self.ready = ready or (lambda values: values)
        self.fingerprints = fingerprints
        self.model_ids = model_ids
        self.batch_size = batch_size
        self.now = now
        self._reset()

    def _reset(self):
        self.pending, self.models, self.rejects = [], [], []
        self.read = 0

    def batches(self) -> Iterator[Prepared | Finished]:
        if self.fingerprints is not None:
            self.fingerprints.open()
        export_file = self.export_file
        model_ids, seen = self.model_ids, set()
        digest = mapping.source_hash
        bytes_read = [0]
        records = source.iter_records(export_file, progress=lambda n: bytes_read.__setitem__(0, n))
        for model_slug, value in records:
            listed = type(value) is list
            statuses = value if listed else (value,)
            self.read += len(statuses)
            model_id = model_ids.get(model_slug)
            if model_id is None or model_slug in seen:
                self._reject_key(model_slug, statuses, listed, model_id)
                continue
            seen.add(model_slug)
            regions = set()
            pending = self.pending
            for index, raw in enumerate(statuses):
                region = raw.get("region") if type(raw) is dict else ""
                if region is None:
                    region = GLOBAL_REGION
                if type(region) is not str or not region or region in regions:
                    self._odd(model_slug, index, listed, raw)
                    continue
                regions.add(region)
                pending.append((model_id, region, digest(raw), raw, model_slug, index, listed))
            self.models.append(model_id)
            if len(self.pending) >= self.batch_size:
                yield self._batch(bytes_read[0])
        yield self._batch(bytes_read[0])
        if self.fingerprints is not None:
            self.fingerprints.close()
        yield Finished(export_file.envelope, export_file.size, export_file.sha256)

    def _batch(self, bytes_read: int) -> Prepared:
        """Map what is not stored as it is; the rest goes without values."""
        stored = {}
        if self.fingerprints is not None:
            stored = self.fingerprints.statuses(self.models)
        fast, ready, now = mapping.status_values, self.ready, self.now
        items = []
        for model_id, region, digest, raw, model_slug, index, listed in self.pending:
            if stored.get((model_id, region)) == digest:
                items.append((model_id, region, digest, None, None))
                continue
            values = fast(raw, region)
            if values is None:
                try:
                    values = status_values(raw, region)
                except mapping.RecordError as exc:
                    self._reject(model_slug, index, listed, raw, exc, f"{model_slug}@{region}")
                    continue
            found = status_warnings(values, raw, now=now)
            if found:
                position = f"{model_slug}[{index}]" if listed else model_slug
                found = [f"{position}: {warning}" for warning in found]
            items.append((model_id, region, digest, ready(values), found or None))
        batch = Prepared(items, self.models, self.rejects, self.read, bytes_read)
        self._reset()
        return batch

    def _reject(self, model_slug, index, listed, raw, exc, record_key):
        position = f"{model_slug}[{index}]" if listed else model_slug
        self.rejects.append(
            Reject(
                entity=Entity.STATUSES,
                record_key=record_key,
                file=self.export_file.name,
                location=self.export_file.shown,
                position=position,
                reason=exc.reason,
                field=exc.field or "",
                raw=raw,
                context={"model_slug": model_slug},
            )
        )

    def _reject_key(self, model_slug, statuses, listed, model_id):
        """Every status under a key that names no model, or a key seen before."""
        for index, raw in enumerate(statuses):
            position = f"{model_slug}[{index}]" if listed else model_slug
            try:
                region = mapping.status_region(raw)
            except mapping.RecordError:
                region = f"#{index}"
            if model_id is None:
                record_key = f"{model_slug}@{region}"
                problem = (
                    f"unknown model {model_slug!r}: no model has this slug (absent from "
                    "models.json or rejected there); retried by --retry-failed"
                )
            else:
                record_key = f"{model_slug}@{region} {position} duplicate"
                problem = f"duplicate key {model_slug!r} in statuses (the first one loads)"
            self._reject(model_slug, index, listed, raw, mapping.RecordError(problem), record_key)

    def _odd(self, model_slug, index, listed, raw):
        """A status that is not an object, has a bad region, or repeats a region."""
        position = f"{model_slug}[{index}]" if listed else model_slug
        try:
            mapping.map_status(raw)  # raises with the precise reason for a bad record
            region = mapping.status_region(raw)
            error = mapping.RecordError(
                f"region {region!r} appears twice for {model_slug!r}", "region"
            )
            record_key = f"{model_slug}@{region} {position}"
        except mapping.RecordError as exc:
            error, record_key = exc, f"{position} ({exc.field or 'record'})"
        self._reject(model_slug, index, listed, raw, error, record_key)


# --- validate_migration's side ----------------------------------------------------------------

MATCHED, MAPPED, PROBLEM = "matched", "mapped", "problem"


@dataclasses.dataclass
class Checked:
    """One batch for validate_migration. Each item is ``(model slug, position, region,
    fingerprint, state, payload)``: state MATCHED (stored as it is; payload None), MAPPED
    (payload: the mapped row) or PROBLEM (payload: why backfill would not have loaded it)."""

    items: list[tuple]
    models: list[str]  # the model slugs named (a repeated key not counted twice)
    warnings: dict[str, int]
    examples: list[str]
    read: int
    bytes_read: int


def raw_status_warnings(raw) -> list[tuple[str, str]]:
    """Data-quality remarks on a record as the export holds it: ``(kind, detail)`` pairs."""
    if type(raw) is not dict:
        return []
    found = []
    get = raw.get
    p50, p95, p99 = get("latencyP50"), get("latencyP95"), get("latencyP99")
    if _number(p95) and _number(p99) and p99 < p95:
        found.append(("latencyP99 < latencyP95", f"p99 {p99} < p95 {p95}"))
    if _number(p50) and _number(p95) and p95 < p50:
        found.append(("latencyP95 < latencyP50", f"p95 {p95} < p50 {p50}"))
    availability = get("availability")
    if _number(availability) and not 0 <= availability <= 100:
        found.append(("availability outside 0-100", f"availability {availability}"))
    for key in (
        "requestsPerMin",
        "tokensPerMin",
        "latencyP50",
        "latencyP95",
        "latencyP99",
        "errorRate",
    ):
        value = get(key)
        if _number(value) and value < 0:
            found.append(("negative count or measure", f"{key} {value}"))
    return found


def _number(value) -> bool:
    return type(value) is int or type(value) is float


class Checker:
    """Turns model-status.json into Checked batches for validate_migration (no parent
    connection; ``fingerprints`` as for Preparer, unused with ``deep``)."""

    def __init__(
        self,
        export_file,
        model_ids: dict[str, int],
        batch_size: int,
        now: dt.datetime,
        *,
        deep: bool,
        fingerprints=None,
    ):
        self.export_file = export_file
        self.model_ids = model_ids
        self.batch_size = batch_size
        self.now = now
        self.deep = deep
        self.fingerprints = None if deep else fingerprints
        self.examples_left = 50
        self._reset()

    def _reset(self):
        self.pending, self.models, self.examples = [], [], []
        self.warnings: dict[str, int] = {}
        self.read = 0

    def batches(self) -> Iterator[Checked | Finished]:
        if self.fingerprints is not None:
            self.fingerprints.open()
        seen = set()
        digest = mapping.source_hash
        bytes_read = [0]
        records = source.iter_records(
            self.export_file, progress=lambda n: bytes_read.__setitem__(0, n)
        )
        for model_slug, value in records:
            listed = type(value) is list
            duplicate = model_slug in seen
            seen.add(model_slug)
            regions: set = set()
            for index, raw in enumerate(value if listed else (value,)):
                self.read += 1
                position = f"{model_slug}[{index}]" if listed else model_slug
                self._warn(position, raw)
                try:
                    region = mapping.status_region(raw)
                except mapping.RecordError as exc:
                    region, problem = None, f"invalid record: {exc}"
                else:
                    problem = (
                        "duplicate key"
                        if duplicate
                        else f"region {region!r} twice"
                        if region in regions
                        else None
                    )
                regions.add(region)
                self.pending.append((model_slug, position, region, digest(raw), raw, problem))
            if not duplicate:
                self.models.append(model_slug)
            if len(self.pending) >= self.batch_size:
                yield self._batch(bytes_read[0])
        yield self._batch(bytes_read[0])
        if self.fingerprints is not None:
            self.fingerprints.close()
        yield Finished(self.export_file.envelope, self.export_file.size, self.export_file.sha256)

    def _warn(self, position, raw):
        for kind, detail in raw_status_warnings(raw):
            self.warnings[kind] = self.warnings.get(kind, 0) + 1
            if self.examples_left > 0:
                self.examples_left -= 1
                self.examples.append(f"{position}: {detail}")
        checked = raw.get("checkedAt") if type(raw) is dict else None
        if isinstance(checked, str):
            try:
                future = mapping.parse_timestamp(checked) > self.now
            except ValueError:
                return
            if future:
                self.warnings["checkedAt in the future"] = (
                    self.warnings.get("checkedAt in the future", 0) + 1
                )
                if self.examples_left > 0:
                    self.examples_left -= 1
                    self.examples.append(f"{position}: checkedAt {checked}")

    def _batch(self, bytes_read: int) -> Checked:
        stored = {}
        if self.fingerprints is not None:
            ids = [self.model_ids[slug] for slug in self.models if slug in self.model_ids]
            stored = self.fingerprints.statuses(ids)
        items = []
        for model_slug, position, region, digest, raw, problem in self.pending:
            if problem is not None:
                items.append((model_slug, position, region, digest, PROBLEM, problem))
            elif stored.get((self.model_ids.get(model_slug), region)) == digest:
                items.append((model_slug, position, region, digest, MATCHED, None))
            else:
                try:
                    row = mapping.map_status(raw)
                except mapping.RecordError as exc:
                    items.append(
                        (model_slug, position, region, digest, PROBLEM, f"invalid record: {exc}")
                    )
                else:
                    items.append((model_slug, position, region, digest, MAPPED, row))
        batch = Checked(items, self.models, self.warnings, self.examples, self.read, bytes_read)
        self._reset()
        return batch
