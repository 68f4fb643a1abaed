"""export_json's work: the database written back out as an export (docs/export-format.md).

Rows become records through the mapping's ``unmap_*`` (the field table gives each column its
export name back, and every field kept in ``metadata`` returns under its own name), so the export
of a database loaded from export E is E up to formatting. The files are written as a stream:
rows are read by key, a page at a time (migrator.tables), and each record is written as soon as it
is read, one per line, so memory does not grow with the catalog and a changed status is a one-line
change in Git. The order is fixed (slugs and regions in code point order; metadata as stored:
SQLite keeps the export's key order, PostgreSQL's jsonb its own), so the same database always
gives byte-identical files, and loading them back changes nothing. Each file
is written to a temporary file beside its target and renamed over it once complete: a reader
never sees half a file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from django.db import connection, transaction

from catalog.models import StatusOrigin
from migrator import mapping, source, tables
from migrator.envelope import latest_envelope
from migrator.equality import values_equal
from migrator.errors import MigratorError

EXPORT_VERSION = "1.0"
PAGE_SIZE = 5000  # rows read per query
STATUS_FILE_VERSION = "1.0.0"


class ExportError(MigratorError):
    """The export cannot be written where asked (no such directory, not writable)."""


@dataclasses.dataclass
class WrittenFile:
    name: str
    path: str
    records: int = 0
    size: int = 0
    sha256: str = ""
    changed: bool = True

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ExportResult:
    directory: str
    files: list[WrittenFile]
    seconds: float

    @property
    def changed(self) -> bool:
        return any(f.changed for f in self.files)

    def as_dict(self) -> dict:
        return {
            "directory": self.directory,
            "changed": self.changed,
            "seconds": round(self.seconds, 3),
            "files": [f.as_dict() for f in self.files],
        }


# --- the envelope -------------------------------------------------------------------------------


def envelope(kind: str) -> dict:
    """The top-level fields of ``kind``'s file other than its records, in order.

    The one place the envelope comes from. Computed from the stored rows (counts, the mean
    availability, the latest ``checkedAt``): nothing here is invented, and nothing depends on
    the clock, so the files stay byte-identical for the same database. When backfill_json kept
    the envelope of the export it loaded (migrator.envelope), that one is written back.
    """
    if kind == "providers":
        return {}  # a bare array
    computed = _computed_envelope(kind)
    kept = {k: v for k, v in latest_envelope(kind).items() if not k.startswith("_")}
    if not kept:
        return computed
    # The envelope of the export this database was loaded from, kept verbatim (its metadata,
    # typeStatistics, providers list, version...), brought up to date where it states what the
    # rows now say otherwise: the statistics the rows can state, and the latest checkedAt.
    statistics = kept.get("statistics")
    if kind == "models" and isinstance(statistics, dict):
        # The counts are stated as the rows are now; the rest stays verbatim (avgAvailability
        # too: refreshed, it would change models.json with every status written, and a
        # publish would commit a models.json change for each monitor's write).
        kept["statistics"] = statistics | {
            key: computed["statistics"][key]
            for key in ("totalModels", "activeModels", "totalProviders")
            if key in statistics
        }
    if kind == "statuses" and computed["lastUpdated"] is not None:
        stated = kept.get("lastUpdated")
        try:
            later = stated is None or mapping.parse_timestamp(stated) < mapping.parse_timestamp(
                computed["lastUpdated"]
            )
        except (TypeError, ValueError):
            later = True
        if later:
            kept["lastUpdated"] = computed["lastUpdated"]
    return kept


def _computed_envelope(kind: str) -> dict:
    """The envelope the stored rows alone can state (counts, means, the latest checkedAt)."""
    figures = tables.export_figures()
    if kind == "models":
        average = figures["avg_availability"]
        return {
            "metadata": {"version": EXPORT_VERSION, "source": "export_json"},
            "statistics": {
                "totalModels": figures["models"],
                "activeModels": figures["active_models"],
                "totalProviders": figures["providers"],
                "avgAvailability": None if average is None else round(average, 2),
            },
            "providers": [
                {"id": slug, "name": name, "website": website, "totalModels": count}
                for slug, name, website, count in figures["per_provider"]
            ],
        }
    return {
        "version": STATUS_FILE_VERSION,
        "lastUpdated": mapping.format_timestamp(figures["last_checked_at"]),
    }


# --- records ------------------------------------------------------------------------------------


def provider_records():
    for row in tables.exported_providers(PAGE_SIZE):
        yield mapping.unmap_provider(row)


def model_records():
    """``(slug, models.json record, whether its own status is stored)`` per model, by slug."""
    for row in tables.exported_models(PAGE_SIZE):
        provider = {
            "slug": row.pop("provider_slug"),
            "name": row.pop("provider_name"),
            "website_url": row.pop("provider_website_url"),
        }
        own = {
            key.removeprefix(tables.OWN_STATUS_PREFIX): row.pop(key)
            for key in list(row)
            if key.startswith(tables.OWN_STATUS_PREFIX)
        }
        record = mapping.unmap_model(row, provider)
        stored = own["region"] is not None
        yield row["slug"], _with_own_status(record, own) if stored else record, stored


def _with_own_status(record: dict, own: dict) -> dict:
    """A model record carrying its own status (origin ``models_file``) as stored now.

    The record's ``status`` and ``availability`` come back verbatim from its metadata; while they
    still map to the stored row they are written as they are (the export is E again). Once the
    row has changed (an API write, an admin edit), the row's values replace them, so the export
    says what the database holds and loading it back gives the same row, origin included.
    """
    stated = mapping.embedded_status(record)
    if stated is not None:
        try:
            if _same_status(mapping.map_status(stated, origin=StatusOrigin.MODELS_FILE), own):
                return record
        except mapping.RecordError:
            pass  # what the record states no longer maps: the row's values replace it
    status = mapping.unmap_status(own | {"origin": StatusOrigin.MODELS_FILE})
    status.pop("region", None)  # a model's own status is its global one
    record = {**record, "status": status}
    if "availability" in record:
        record["availability"] = status["availability"]
    return record


def _same_status(mapped: dict, own: dict) -> bool:
    return all(values_equal(mapped[column], own[column]) for column in own)


def status_groups():
    """``(model slug, [status record, ...])`` per model, regions in code point order.

    A model's own status (origin ``models_file``) is not among them: its model's record in
    models.json carries it, as in the export it came from (:func:`model_records`)."""
    slug, group = None, []
    for row in tables.exported_statuses(PAGE_SIZE):
        if row["origin"] == StatusOrigin.MODELS_FILE:
            continue
        model_slug = row.pop("model_slug")
        if model_slug != slug and group:
            yield slug, group
            group = []
        slug = model_slug
        group.append(mapping.unmap_status(row))
    if group:
        yield slug, group


# --- writing ------------------------------------------------------------------------------------


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


class _Writer:
    """A file written beside its target, hashed on the way, renamed over it by ``commit``."""

    def __init__(self, directory: Path, name: str):
        self.target = directory / name
        fd, self.temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.sha.update(data)
        self.size += len(data)
        self.handle.write(text)

    def close(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()

    def commit(self) -> bool:
        """Rename over the target; False when the target already held these bytes."""
        try:
            unchanged = (
                self.target.stat().st_size == self.size
                and source.file_sha256(str(self.target)) == self.sha.hexdigest()
            )
        except FileNotFoundError:
            unchanged = False
        try:
            mode = os.stat(self.target).st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(self.temporary, mode)
        os.replace(self.temporary, self.target)
        return not unchanged

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temporary)


def _head(fields: dict, records_key: str) -> str:
    """The file's opening: its envelope fields, then the records key. The envelope's keys are
    written sorted: a kept envelope comes back from PostgreSQL's jsonb in jsonb's own key order,
    and the same envelope must give the same bytes whichever way it was stored."""
    parts = [
        f"{_dumps(key)}: {json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)}"
        for key, value in sorted(fields.items())
    ]
    parts.append(f"{_dumps(records_key)}: ")
    return "{" + ",\n".join(parts)


def _write_array(writer: _Writer, lines) -> int:
    """``[`` one item per line ``]``; the number of items."""
    count = 0
    writer.write("[")
    for line in lines:
        writer.write(",\n" if count else "\n")
        writer.write(line)
        count += 1
    writer.write("\n]" if count else "]")
    return count


def _write_providers(writer: _Writer, unheard: list[str]) -> int:
    count = _write_array(writer, (_dumps(record) for record in provider_records()))
    writer.write("\n")
    return count


def _write_models(writer: _Writer, unheard: list[str]) -> int:
    """models.json; appends to ``unheard`` the models whose record states an own status that
    is not stored (see :func:`_write_statuses`)."""

    def lines():
        for slug, record, stored in model_records():
            # Not stored, yet its record states one: model-status.json named the model (with
            # statuses since rejected or removed), which kept that status from loading.
            if not stored and mapping.embedded_status(record) is not None:
                unheard.append(slug)
            yield _dumps(record)

    writer.write(_head(envelope("models"), "models"))
    count = _write_array(writer, lines())
    writer.write("}\n")
    return count


def _write_statuses(writer: _Writer, unheard: list[str]) -> int:
    """model-status.json. A model in ``unheard`` gets its key with no status (``[]``) unless it
    has statuses: model-status.json naming a model is what kept its own status from loading, so
    loading the export back leaves it out again."""
    writer.write(_head(envelope("statuses"), "statuses"))
    writer.write("{")
    count = models = 0
    pending = iter(unheard)  # in code point order, as the groups are
    next_unheard = next(pending, None)

    def write(slug, value):
        nonlocal models
        writer.write(",\n" if models else "\n")
        writer.write(f"{_dumps(slug)}: {_dumps(value)}")
        models += 1

    for slug, group in status_groups():
        while next_unheard is not None and next_unheard <= slug:
            if next_unheard != slug:
                write(next_unheard, [])
            next_unheard = next(pending, None)
        # One status per model is written as an object, several as a list (the export's forms).
        write(slug, group[0] if len(group) == 1 else group)
        count += len(group)
    while next_unheard is not None:
        write(next_unheard, [])
        next_unheard = next(pending, None)
    writer.write("\n}}\n" if models else "}}\n")
    return count


WRITERS = {
    "providers": _write_providers,
    "models": _write_models,
    "statuses": _write_statuses,
}


def export_json(directory: str | Path) -> ExportResult:
    """Write the database out to ``directory`` as providers.json, models.json and
    model-status.json. Every file is complete before any is renamed into place."""
    started = time.perf_counter()
    directory = Path(directory)
    if not directory.is_dir():
        raise ExportError(
            f"{directory}: no such directory: create it first (mkdir -p {directory}) or name "
            "an existing one"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ExportError(f"{directory}: not writable by this user: pick a writable directory")
    writers: list[tuple[_Writer, WrittenFile]] = []
    unheard: list[str] = []  # models.json's writer tells model-status.json's (source.KINDS order)
    with _one_snapshot():
        _write_all(directory, writers, unheard)
    _fsync_directory(directory)
    return ExportResult(
        directory=str(directory),
        files=[written for _, written in writers],
        seconds=time.perf_counter() - started,
    )


@contextlib.contextmanager
def _one_snapshot():
    """Every query of the export reads the same snapshot of the database, so that writes made
    meanwhile (the API, after the switch) never give files that contradict each other: one
    read-only REPEATABLE READ transaction on PostgreSQL, one read transaction on SQLite."""
    if connection.in_atomic_block:  # inside a caller's transaction: its snapshot rules
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _write_all(directory: Path, writers: list, unheard: list[str]) -> None:
    try:
        for kind in source.KINDS:
            name = source.FILE_OF_KIND[kind]
            writer = _Writer(directory, name)
            written = WrittenFile(name=name, path=str(directory / name))
            writers.append((writer, written))
            written.records = WRITERS[kind](writer, unheard)
            writer.close()
            written.size, written.sha256 = writer.size, writer.sha.hexdigest()
        for writer, written in writers:
            written.changed = writer.commit()
    except BaseException:
        for writer, _ in writers:
            writer.discard()
        raise


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
