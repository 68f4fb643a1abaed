"""The two stores as write targets: one operation, in the export's terms, applied to either.

An operation is a JSON-ready dict (it may wait in a queue): ``{"kind": "status", "model": slug,
"record": {...}}``, ``{"kind": "model", "record": {...}}``, ``{"kind": "provider", "record":
{...}}``, or ``{"kind": "delete", "entity": ..., "key": ...}``. Every operation is an upsert or a
delete by natural key, so applying one twice is harmless.

The database row keeps the record's fingerprint, and the JSON store writes that same record: a
written row and the export stay equal for validate_migration's fast path.

The JSON store never writes into the shipped sample (``data/sample``, read-only input): it
refuses until JSON_EXPORT_DIR names a writable copy (``make run`` makes one in var/export).
Rewrites keep each file's mode; the lock file is opened inside the directory without following
a symbolic link; an export file that is a symbolic link is not written through (refused).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, InternalError, OperationalError, ProgrammingError, transaction
from django.utils import timezone

from catalog.models import Model, ModelStatus, Provider
from migrator import mapping
from migrator.errors import MigratorError
from migrator.models import Backend


class WriteRefused(MigratorError):
    """The operation cannot be applied as it is (e.g. a value out of range)."""


class UnknownModel(WriteRefused):
    """A status for a model the store does not hold."""


class StoreNotWritable(MigratorError):
    """The store cannot be written here as configured (the shipped sample, a URL, a link)."""


def store_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is the store failing (down, unreadable, not writable: try again later)
    rather than it refusing this write's values."""
    return isinstance(
        exc,
        OperationalError
        | InterfaceError
        | ProgrammingError
        | InternalError
        | OSError
        | json.JSONDecodeError
        | StoreNotWritable,
    )


def _validated(mapper, record):
    try:
        return mapper(record)
    except mapping.RecordError as exc:
        raise WriteRefused(str(exc)) from exc


# --- the database -----------------------------------------------------------------------------


class DatabaseStore:
    name = Backend.DATABASE

    def apply(self, operation: dict) -> None:
        with transaction.atomic():
            getattr(self, f"_{operation['kind']}")(operation)

    def _status(self, operation):
        record = operation["record"]
        row = _validated(mapping.map_status, record)
        model = Model.objects.filter(slug=operation["model"]).first()
        if model is None:
            raise UnknownModel(f"no model with slug {operation['model']!r}")
        ModelStatus.objects.update_or_create(
            model=model,
            region=row.pop("region"),
            defaults=row,
        )

    def _provider(self, operation):
        record = operation["record"]
        row = _validated(mapping.map_provider, record)
        Provider.objects.update_or_create(slug=row.pop("slug"), defaults=row)

    def _model(self, operation):
        record = operation["record"]
        row = _validated(mapping.map_model, record)
        provider_slug = row.pop("provider_slug")
        provider = Provider.objects.filter(slug=provider_slug).first()
        if provider is None:
            embedded = _validated(mapping.map_embedded_provider, record["provider"])
            provider = Provider.objects.create(**embedded)
        Model.objects.update_or_create(
            slug=row.pop("slug"),
            defaults=row | {"provider": provider},
        )

    def _delete(self, operation):
        entity, key = operation["entity"], operation["key"]
        if entity == "statuses":
            ModelStatus.objects.filter(model__slug=key["model"], region=key["region"]).delete()
        elif entity == "models":
            ModelStatus.objects.filter(model__slug=key).delete()
            Model.objects.filter(slug=key).delete()
        else:
            Provider.objects.filter(slug=key).delete()


# --- the JSON export --------------------------------------------------------------------------


class _BareModels(dict):
    """A models.json that is a bare array of models, held as ``{"models": [...]}``."""


class JsonStore:
    """The export directory, rewritten atomically (temporary file, fsync, rename) under a lock
    that holds across processes, in the export's own format."""

    name = Backend.JSON

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory or settings.JSON_EXPORT_DIR)

    def _check_writable(self) -> None:
        if settings.JSON_EXPORT_URL:
            raise StoreNotWritable("the JSON store is read from a URL (JSON_EXPORT_URL): read-only")
        if settings.ON_VERCEL:
            raise StoreNotWritable(
                "the JSON store is read-only on Vercel (a read-only file system)"
            )
        sample = Path(settings.SAMPLE_EXPORT_DIR).resolve()
        directory = self.directory.resolve()
        if directory == sample or sample in directory.parents:
            raise StoreNotWritable(
                "the JSON store is the shipped sample (data/sample), which is read-only input: "
                "set JSON_EXPORT_DIR to a writable copy of the export (make run uses var/export)"
            )

    @contextlib.contextmanager
    def _locked(self):
        # Inside the directory, never through a symbolic link (it could point anywhere).
        directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                lock = os.open(
                    ".export.lock",
                    os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                    dir_fd=directory,
                )
            except OSError as exc:
                if os.path.islink(self.directory / ".export.lock"):
                    raise StoreNotWritable("the export's .export.lock is a symbolic link") from exc
                raise
        finally:
            os.close(directory)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)  # closing releases the lock

    def _read(self, name: str, empty):
        path = self.directory / name
        if not path.exists():
            return empty
        with open(path) as handle:
            document = json.load(handle)
        if name == "models.json" and isinstance(document, list):
            return _BareModels(models=document)  # an older exporter's bare array
        return document

    def _write(self, name: str, document) -> None:
        if isinstance(document, _BareModels):
            document = document["models"]  # written back in the shape it was read in
        target = self.directory / name
        try:
            current = os.lstat(target)
        except FileNotFoundError:
            mode = 0o644
        else:
            if stat.S_ISLNK(current.st_mode):
                raise StoreNotWritable(
                    f"{name} is a symbolic link: the JSON store does not write through links "
                    "(point JSON_EXPORT_DIR at a directory of real files)"
                )
            mode = stat.S_IMODE(current.st_mode)
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=self.directory)
        try:
            os.fchmod(fd, mode)  # mkstemp makes it 0600: keep the file's own mode
            with os.fdopen(fd, "w") as out:
                json.dump(document, out, indent=2, ensure_ascii=False)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def apply(self, operation: dict) -> None:
        self._check_writable()
        with self._locked():
            getattr(self, f"_{operation['kind']}")(operation)

    def _status(self, operation):
        record = operation["record"]
        region = _validated(mapping.map_status, record)["region"]
        models = self._read("models.json", {"models": []}).get("models", [])
        if not any(_model_slug(m) == operation["model"] for m in models):
            raise UnknownModel(f"no model with slug {operation['model']!r}")
        document = self._read("model-status.json", {"version": "1.0.0", "statuses": {}})
        statuses = document.setdefault("statuses", {})
        current = statuses.get(operation["model"])
        if current is None:
            statuses[operation["model"]] = record
        else:
            entries = current if isinstance(current, list) else [current]
            kept = [e for e in entries if mapping.status_region(e) != region]
            statuses[operation["model"]] = [*kept, record] if kept else record
        document["lastUpdated"] = mapping.format_timestamp(timezone.now())
        self._write("model-status.json", document)

    def _provider(self, operation):
        record = operation["record"]
        slug = _validated(mapping.map_provider, record)["slug"]
        providers = self._read("providers.json", [])
        index = next((i for i, p in enumerate(providers) if p.get("slug") == slug), None)
        if index is None:
            providers.append(record)
        else:
            providers[index] = record
        self._write("providers.json", providers)

    def _model(self, operation):
        record = operation["record"]
        slug = _validated(mapping.map_model, record)["slug"]
        document = self._read("models.json", {"models": []})
        models = document.setdefault("models", [])
        index = next((i for i, m in enumerate(models) if _model_slug(m) == slug), None)
        if index is None:
            models.append(record)
        else:
            models[index] = record
        self._write("models.json", document)

    def _delete(self, operation):
        entity, key = operation["entity"], operation["key"]
        if entity == "statuses":
            document = self._read("model-status.json", {"statuses": {}})
            current = document["statuses"].get(key["model"])
            entries = current if isinstance(current, list) else [current] if current else []
            kept = [e for e in entries if mapping.status_region(e) != key["region"]]
            if kept:
                document["statuses"][key["model"]] = kept if len(kept) > 1 else kept[0]
            else:
                document["statuses"].pop(key["model"], None)
            self._write("model-status.json", document)
        elif entity == "models":
            document = self._read("models.json", {"models": []})
            document["models"] = [m for m in document["models"] if _model_slug(m) != key]
            self._write("models.json", document)
            statuses = self._read("model-status.json", {"statuses": {}})
            if statuses["statuses"].pop(key, None) is not None:
                self._write("model-status.json", statuses)
        else:
            providers = self._read("providers.json", [])
            self._write("providers.json", [p for p in providers if p.get("slug") != key])


def _model_slug(record) -> str | None:
    try:
        return mapping.model_slug(record)[1]
    except mapping.RecordError:
        return None


def store(name: str):
    return DatabaseStore() if name == Backend.DATABASE else JsonStore()
