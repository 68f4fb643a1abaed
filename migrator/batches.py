"""The acceptance pipeline's output cut into batches ready for a staging table.

Statuses (millions of records in a large export) are read, checked and mapped in a forked child
process (migrator.child_process) while the parent writes or compares the previous batch; the
child sends compact batches: driver-ready rows, the rejects, the warnings. Providers and models
(thousands) take the same path without a child.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator

from migrator import child_process, source
from migrator.pipeline import PROVIDERS, Accepted, Merged
from migrator.rejects import Reject

MAX_WARNING_EXAMPLES = 100


@dataclasses.dataclass
class Batch:
    """``rows``: ``[pos, parent key, *driver-ready values]`` of accepted records (a status's
    whole model in one batch); ``accepted``: the Accepted items by pos when the consumer needs
    them (providers, models), else only ``kept`` for rows whose raw record may still be needed
    (a status whose model is not in the database): ``{pos: (position, raw)}``."""

    rows: list[list]
    rejects: list[Reject]
    read: int
    merged: int = 0
    warnings: int = 0
    warning_kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    warning_examples: list[str] = dataclasses.field(default_factory=list)
    accepted: dict[int, Accepted] = dataclasses.field(default_factory=dict)
    kept: dict[int, tuple[str, object]] = dataclasses.field(default_factory=dict)
    bytes_read: int = 0


@dataclasses.dataclass
class Finished:
    """The file was read to its end: what it turned out to be."""

    envelope: dict
    size: int | None
    sha256: str | None


class Batcher:
    """Cuts a stream of Accepted / Reject items of one entity into Batches of ``size`` rows.

    ``convert(row, pos, parent)`` makes an accepted row driver-ready; ``keep_items`` keeps each
    Accepted item with the batch; ``needs_raw(item)`` says which items' raw records go with the
    batch otherwise."""

    def __init__(self, size: int, convert: Callable, *, keep_items: bool, needs_raw=None):
        self.size = size
        self.convert = convert
        self.keep_items = keep_items
        self.needs_raw = needs_raw
        self.pos = 0
        self.examples_left = MAX_WARNING_EXAMPLES
        self._new()

    def _new(self):
        self.batch = Batch(rows=[], rejects=[], read=0)

    def add(self, item) -> Batch | None:
        """Add one item; a full batch when this one completes it (whole status groups are kept
        together by flushing only between models: see ``boundary``)."""
        batch = self.batch
        batch.read += 1
        if type(item) is not Accepted:
            if isinstance(item, Reject):
                batch.rejects.append(item)
            elif isinstance(item, Merged):
                batch.merged += 1
            return None
        self.pos += 1
        batch.rows.append(self.convert(item.row, self.pos, item.parent or ""))
        if self.keep_items:
            batch.accepted[self.pos] = item
        elif self.needs_raw is not None and self.needs_raw(item):
            batch.kept[self.pos] = (item.position, item.raw)
        if item.warnings:
            batch.warnings += len(item.warnings)
            for kind, text in item.warnings:
                batch.warning_kinds[kind] = batch.warning_kinds.get(kind, 0) + 1
                if self.examples_left > 0:
                    batch.warning_examples.append(text)
                    self.examples_left -= 1
        return None

    def full(self) -> bool:
        return len(self.batch.rows) + len(self.batch.rejects) >= self.size

    def take(self, bytes_read: int = 0) -> Batch:
        batch = self.batch
        batch.bytes_read = bytes_read
        self._new()
        return batch


def status_batches(
    export_file: source.ExportFile | None,
    acceptance,
    batcher: Batcher,
) -> Callable[[], Iterator[Batch | Finished]]:
    """A function yielding the statuses' batches (whole models each), then the models' own
    statuses (models.json) of the models the file gave none, then Finished; run it with
    :func:`in_child`. Without model-status.json (``export_file`` None), only the models' own."""

    def batches():
        bytes_read = [0]
        records = ()
        if export_file is not None:
            records = source.iter_records(
                export_file, progress=lambda n: bytes_read.__setitem__(0, n)
            )
        for key, value in records:
            for item in acceptance.statuses_from(((key, value),)):
                batcher.add(item)
            if batcher.full():
                yield batcher.take(bytes_read[0])
        for item in acceptance.embedded_statuses():
            batcher.add(item)
            if batcher.full():
                yield batcher.take(bytes_read[0])
        if batcher.batch.read:
            yield batcher.take(bytes_read[0])
        if export_file is not None:
            yield Finished(export_file.envelope, export_file.size, export_file.sha256)

    return batches


def in_child(batches, export_file: source.ExportFile | None, *, name: str) -> Iterator[Batch]:
    """The batches ``batches()`` makes, computed in a forked child; once the child has read the
    file to its end, its envelope, size and checksum are set on ``export_file`` here. Without a
    file (only the models' own statuses: a few thousand), they are made here."""
    if export_file is None:
        yield from batches()
        return
    for message in child_process.in_child(batches, name=name, describe=export_file.shown):
        if isinstance(message, Finished):
            export_file.envelope = message.envelope
            export_file.size, export_file.sha256 = message.size, message.sha256
            return
        yield message


def model_batches(items: Iterable, providers: Batcher, models: Batcher) -> Iterator[tuple]:
    """``(providers batch, models batch)`` pairs of a models pass: the providers that models
    embed go in the batch before the models that need them."""
    for item in items:
        (providers if item.entity == PROVIDERS else models).add(item)
        if models.full():
            yield providers.take(), models.take()
    if providers.batch.read or models.batch.read:
        yield providers.take(), models.take()


def inline_batches(items: Iterable, batcher: Batcher) -> Iterator[Batch]:
    """Batches of an entity read in this process (providers, models, the reject queue)."""
    for item in items:
        batcher.add(item)
        if batcher.full():
            yield batcher.take()
    if batcher.batch.read:
        yield batcher.take()
