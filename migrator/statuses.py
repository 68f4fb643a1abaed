"""The reading side of backfill_json's statuses pass: parse, check, fingerprint and map.

This is where the time goes for a large export (millions of records, each parsed, hashed and
checked in Python), and none of it needs the database. So it runs in a forked child process and
sends whole-model batches through a pipe: on a two-core machine the parsing runs beside the main
process (which writes) and PostgreSQL (which indexes). Where fork is unavailable it runs inline.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime as dt
import gc
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from queue import Empty

from django.conf import settings

from catalog.models import GLOBAL_REGION
from migrator import mapping, source
from migrator.errors import SourceError
from migrator.models import Entity
from migrator.rejects import Reject

MAX_WARNING_EXAMPLES = 100


@dataclasses.dataclass
class Prepared:
    """One batch of whole models: each item ``(model id, region, fingerprint, values)``, values
    in STATUS_COLUMNS order, driver-ready (see Preparer)."""

    items: list[tuple]
    models: list[int]
    rejects: list[Reject]
    warnings: list[str]
    warning_count: int
    read: int
    bytes_read: int


@dataclasses.dataclass
class Finished:
    """The file was read to its end: what it turned out to be."""

    envelope: dict
    size: int | None
    sha256: str | None


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
    """Turns model-status.json into Prepared batches. Pure: no database access.

    ``ready`` makes mapped values driver-ready (tables.ready_converter), so that the process
    that writes hands them to COPY as they are."""

    def __init__(
        self,
        export_file: source.ExportFile,
        model_ids: dict[str, int],
        batch_size: int,
        now: dt.datetime,
        ready=None,
    ):
        self.export_file = export_file
        self.ready = ready or (lambda values: values)
        self.model_ids = model_ids
        self.batch_size = batch_size
        self.now = now
        self.examples = 0
        self._reset()

    def _reset(self):
        self.items, self.models, self.rejects, self.warnings = [], [], [], []
        self.warning_count = self.read = 0

    def batches(self) -> Iterator[Prepared | Finished]:
        export_file = self.export_file
        model_ids, seen = self.model_ids, set()
        digest, fast, ready = mapping.source_hash, mapping.status_values, self.ready
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
            items = self.items
            for index, raw in enumerate(statuses):
                region = raw.get("region") if type(raw) is dict else ""
                if region is None:
                    region = GLOBAL_REGION
                if type(region) is not str or not region or region in regions:
                    self._odd(model_slug, index, listed, raw)
                    continue
                regions.add(region)
                values = fast(raw, region)
                if values is None:
                    try:
                        values = status_values(raw, region)
                    except mapping.RecordError as exc:
                        self._reject(model_slug, index, listed, raw, exc, f"{model_slug}@{region}")
                        continue
                self._warn(model_slug, index, listed, values, raw)
                items.append((model_id, region, digest(raw), ready(values)))
            self.models.append(model_id)
            if len(self.items) >= self.batch_size:
                yield self._batch(bytes_read[0])
        yield self._batch(bytes_read[0])
        yield Finished(export_file.envelope, export_file.size, export_file.sha256)

    def _batch(self, bytes_read: int) -> Prepared:
        batch = Prepared(
            self.items,
            self.models,
            self.rejects,
            self.warnings,
            self.warning_count,
            self.read,
            bytes_read,
        )
        self._reset()
        return batch

    def _warn(self, model_slug, index, listed, values, raw):
        found = status_warnings(values, raw, now=self.now)
        if not found:
            return
        self.warning_count += len(found)
        position = f"{model_slug}[{index}]" if listed else model_slug
        for warning in found:
            if self.examples < MAX_WARNING_EXAMPLES:
                self.examples += 1
                self.warnings.append(f"{position}: {warning}")

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


# --- running it in a child process ------------------------------------------------------------


QUEUE_BATCHES = 3  # batches the reader may be ahead of the writer (memory: a few MB each)


def prepared(preparer: Preparer) -> Iterator[Prepared | Finished]:
    """``preparer.batches()``, computed in a forked child process when that is possible."""
    if not settings.BACKFILL_PARALLEL or "fork" not in multiprocessing.get_all_start_methods():
        yield from preparer.batches()
        return
    context = multiprocessing.get_context("fork")
    # A queue, not a bare pipe: its feeder thread sends one batch while the child parses the
    # next, so the reader works ahead instead of waiting for the writer to read.
    queue = context.Queue(maxsize=QUEUE_BATCHES)
    child = context.Process(
        target=_child, args=(preparer, queue, os.getpid()), daemon=True, name="backfill-reader"
    )
    child.start()
    try:
        while True:
            try:
                kind, payload = queue.get(timeout=1.0)
            except Empty:
                if child.is_alive():
                    continue
                raise SourceError(
                    f"{preparer.export_file.shown}: the reading process stopped unexpectedly "
                    f"(exit code {child.exitcode}); run the command again",
                    location=preparer.export_file.shown,
                ) from None
            if kind == "error":
                raise payload
            yield payload
            if isinstance(payload, Finished):
                return
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        queue.close()
        queue.cancel_join_thread()


def _detach(parent_pid: int) -> None:
    """Cut the child loose from the parent's resources, without touching them for the parent.

    The forked child holds copies of the parent's database sockets: were the parent killed, a
    copy kept open would keep its server session (and its locks) alive. Closing the child's copy
    of the descriptor sends nothing (closing the connection object would end the parent's
    session). And the child dies with its parent, instead of waiting for a reader that is gone.
    """
    from django.db import connections

    for alias in connections:
        raw = getattr(connections[alias], "connection", None)
        pgconn = getattr(raw, "pgconn", None)
        if pgconn is not None:
            with contextlib.suppress(OSError):
                os.close(pgconn.socket)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    if os.getppid() != parent_pid:
        os._exit(1)


def _child(preparer: Preparer, queue, parent_pid: int) -> None:
    # The child must never use the parent's database connections, not even to close them at
    # exit (that would end the parent's session) -- hence _detach, and os._exit below.
    _detach(parent_pid)
    # Millions of small, acyclic objects: the cyclic collector would only walk them again.
    gc.disable()
    code = 0
    try:
        for batch in preparer.batches():
            queue.put(("batch", batch))
    except BaseException as exc:  # every failure goes back to the parent...
        code = 1
        with contextlib.suppress(BrokenPipeError, OSError):  # ...unless it is gone
            queue.put(("error", exc))
    finally:
        queue.close()
        queue.join_thread()  # everything sent before leaving
        sys.stdout.flush()
        os._exit(code)
