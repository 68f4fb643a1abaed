"""Reading an export (a directory, some of its files, or an http(s) base URL) as a stream.

Records come from ijson's C parser one at a time, so memory does not grow with the file. Each file
is read once: its SHA-256 and size are computed on the way, and the few top-level fields around the
records (``version``, ``metadata``, ``statistics``...) are kept as the file's ``envelope``.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import decimal
import errno
import hashlib
import json
import math
import os
import re
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import ijson
from django.conf import settings

from config.database import mask_url
from migrator.errors import SourceError

# File name -> (kind, the top-level key holding the records or None for a top-level array).
FILES = {
    "providers.json": ("providers", None),
    "models.json": ("models", "models"),
    "model-status.json": ("statuses", "statuses"),
}
KINDS = ("providers", "models", "statuses")
FILE_OF_KIND = {kind: name for name, (kind, _) in FILES.items()}
READ_SIZE = 64 * 1024
TAIL_SIZE = 256 * 1024
HEADERS = {"User-Agent": "catalog-migrator"}


class TrackedReader:
    """A binary reader that hashes and counts what passes, keeps the last ``TAIL_SIZE`` bytes,
    and can replay what a first look at the head of the file consumed."""

    def __init__(self, raw, location: str):
        self._raw = raw
        self.location = location
        self._sha = hashlib.sha256()
        self.bytes_read = 0
        self._tail: collections.deque[bytes] = collections.deque()
        self._tail_size = 0
        self._head: list[bytes] | None = []  # recorded while looking at the head
        self._replay: collections.deque[bytes] = collections.deque()

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes read(0) to tell bytes from text
            return b""
        if self._replay:
            return self._replay.popleft()
        try:
            chunk = self._raw.read(READ_SIZE if size is None or size < 0 else size)
        except (TimeoutError, OSError) as exc:
            raise SourceError(
                f"{self.location}: reading failed after {self.bytes_read} bytes: {exc}",
                location=self.location,
                position=f"byte {self.bytes_read}",
            ) from exc
        if chunk:
            self._sha.update(chunk)
            self.bytes_read += len(chunk)
            self._tail.append(chunk)
            self._tail_size += len(chunk)
            while self._tail_size - len(self._tail[0]) >= TAIL_SIZE:
                self._tail_size -= len(self._tail.popleft())
            if self._head is not None:
                self._head.append(chunk)
        return chunk

    def replay_head(self):
        """Serve again, from memory, every chunk read so far (then carry on from the source)."""
        self._replay.extend(self._head or ())
        self._head = None

    @property
    def tail(self) -> bytes:
        return b"".join(self._tail)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def close(self):
        self._raw.close()


@dataclasses.dataclass
class ExportFile:
    """One file of an export; ``size`` and ``sha256`` are known once it has been read."""

    kind: str
    location: str
    records_key: str | None
    size: int | None = None
    sha256: str | None = None
    envelope: dict = dataclasses.field(default_factory=dict)
    shape: str = "object"  # models.json: "array" when it is a bare array of models

    @property
    def name(self) -> str:
        return FILE_OF_KIND[self.kind]

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    @property
    def shown(self) -> str:
        """The location as it may be printed or logged (a password in a URL masked)."""
        return mask_url(self.location)

    def open(self) -> TrackedReader:
        if self.is_url:
            return TrackedReader(_open_url(self.location), self.shown)
        try:
            return TrackedReader(open(self.location, "rb"), self.location)
        except OSError as exc:
            raise SourceError(
                f"{self.location}: cannot open: {exc.strerror}", location=self.location
            ) from exc

    def describe(self) -> dict:
        return {
            "file": self.name,
            "location": self.shown,
            "size": self.size,
            "sha256": self.sha256,
        }


def _request(url: str, method: str = "GET") -> urllib.request.Request:
    """A request for ``url``; credentials in it (https://user:token@host/...) become a Basic
    Authorization header, since urllib does not take them from the URL."""
    parts = urlsplit(url)
    headers = dict(HEADERS)
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        url = urlunsplit(parts._replace(netloc=netloc))
    # resolve() only builds http(s) locations: no file:// or custom schemes reach urlopen.
    return urllib.request.Request(url, method=method, headers=headers)  # noqa: S310


def _open_url(url: str):
    request = _request(url)
    url = mask_url(url)  # from here on, only for messages
    try:
        return urllib.request.urlopen(request, timeout=settings.JSON_EXPORT_TIMEOUT)  # noqa: S310
    except urllib.error.HTTPError as exc:
        raise SourceError(
            f"{url}: HTTP {exc.code} {exc.reason}: check the export's base URL "
            "(JSON_EXPORT_URL or the SOURCE argument)",
            location=url,
        ) from exc
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(f"{url}: cannot fetch: {reason}", location=url) from exc


def _url_exists(url: str) -> bool:
    request = _request(url, method="HEAD")
    url = mask_url(url)  # from here on, only for messages
    try:
        with urllib.request.urlopen(request, timeout=settings.JSON_EXPORT_TIMEOUT):  # noqa: S310
            return True
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        if exc.code == 405:  # HEAD not allowed: let the GET decide
            return True
        raise SourceError(f"{url}: HTTP {exc.code} {exc.reason}", location=url) from exc
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(f"{url}: cannot fetch: {reason}", location=url) from exc


def resolve(sources: list[str]) -> dict[str, ExportFile]:
    """The export files named by ``sources`` (directories, files or base URLs), by kind.

    A directory or base URL contributes the files it has; naming a kind twice is an error.
    """
    files: dict[str, ExportFile] = {}

    def add(kind: str, location: str):
        if kind in files:
            raise SourceError(
                f"two sources for {FILE_OF_KIND[kind]}: {files[kind].location} and {location}"
            )
        files[kind] = ExportFile(kind=kind, location=location, records_key=_records_key(kind))

    for source in sources:
        if source.startswith(("http://", "https://")):
            name = source.rstrip("/").rsplit("/", 1)[-1]
            if name in FILES:
                add(FILES[name][0], source)
                continue
            found = [n for n in FILES if _url_exists(f"{source.rstrip('/')}/{n}")]
            if not found:
                raise SourceError(
                    f"{source}: no export file there (looked for {', '.join(FILES)})",
                    location=source,
                )
            for name in found:
                add(FILES[name][0], f"{source.rstrip('/')}/{name}")
            continue
        path = Path(source)
        if path.is_dir():
            present = [name for name in FILES if _export_entry(path / name)]
            if not present:
                raise SourceError(
                    f"{path}: no export file in this directory (looked for {', '.join(FILES)})",
                    location=str(path),
                )
            for name in present:
                add(FILES[name][0], str(path / name))
        elif _export_entry(path):
            if path.name not in FILES:
                raise SourceError(
                    f"{path}: cannot tell what this file holds; name it one of {', '.join(FILES)}",
                    location=str(path),
                )
            add(FILES[path.name][0], str(path))
        else:
            raise SourceError(f"{path}: no such file or directory", location=str(path))
    return files


def _export_entry(path: Path) -> bool:
    """Whether ``path`` is a readable export file; False when nothing is there. Something there
    that cannot be read as a file (a directory, a dangling or looping symbolic link, a file
    without read permission) is an error naming it: an export file is never silently skipped."""
    if not os.path.lexists(path):
        return False
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            problem = "is a symbolic link that loops"
        elif os.path.islink(path):
            problem = f"is a symbolic link to {os.readlink(path)!r}, which does not exist"
        else:
            problem = f"cannot be read: {exc.strerror}"
        raise SourceError(f"{path}: {problem}: fix or remove it", location=str(path)) from exc
    if stat.S_ISDIR(mode):
        if path.name in FILES:
            raise SourceError(
                f"{path}: is a directory, not a file: an export's {path.name} must be a file",
                location=str(path),
            )
        return False
    if not os.access(path, os.R_OK):
        raise SourceError(
            f"{path}: cannot be read (permission denied): give this user read access",
            location=str(path),
        )
    return True


def _records_key(kind: str) -> str | None:
    return FILES[FILE_OF_KIND[kind]][1]


def default_sources(settings) -> list[str]:
    """``JSON_EXPORT_URL`` when set, else ``JSON_EXPORT_DIR``."""
    return [settings.JSON_EXPORT_URL or str(settings.JSON_EXPORT_DIR)]


# --- Streaming the records --------------------------------------------------------------------


def _parse_error(reader: TrackedReader, exc: Exception, last: str) -> SourceError:
    detail = " ".join(str(exc).split())
    # The parser reads ahead in blocks: the error lies within what it had read, not at its end.
    where = f"within its first {reader.bytes_read} bytes"
    after = f", after {last}" if last else ", before the first record"
    return SourceError(
        f"{reader.location}: malformed JSON {where}{after}: {detail}",
        location=reader.location,
        position=where + after,
    )


def _read_head(reader: TrackedReader, export_file: ExportFile, backend=ijson) -> tuple[dict, str]:
    """The top-level fields before the records, and the records' ijson prefix; checks the
    file's top-level shape. models.json may be an object with ``models`` or, as older exporters
    wrote it, a bare array of models."""
    events = backend.parse(reader, **_NUMBERS[backend])
    name = export_file.name
    first = next(events, None)
    if export_file.records_key is None or (
        export_file.kind == "models" and first is not None and first[1] == "start_array"
    ):
        if first is None or first[1] != "start_array":
            found = "nothing" if first is None else first[1].replace("start_", "")
            raise SourceError(
                f"{reader.location}: {name} must hold a JSON array of records at the top level, "
                f"found {'a ' + found if found in ('map', 'array') else found}",
                location=reader.location,
                position="byte 0",
            )
        return {}, "item"
    if first is None or first[1] != "start_map":
        raise SourceError(
            f"{reader.location}: {name} must hold a JSON object with a "
            f"{export_file.records_key!r} member at the top level"
            + (" (or a JSON array of models)" if export_file.kind == "models" else ""),
            location=reader.location,
            position="byte 0",
        )
    envelope: dict = {}
    expected = "start_array" if export_file.kind == "models" else "start_map"
    for prefix, event, value in events:
        if prefix == "" and event == "map_key":
            if value == export_file.records_key:
                _, kind_event, _ = next(events)
                if kind_event != expected:
                    raise SourceError(
                        f"{reader.location}: {export_file.records_key!r} must be a JSON "
                        f"{'array' if expected == 'start_array' else 'object'}",
                        location=reader.location,
                    )
                return envelope, f"{export_file.records_key}.item"
            envelope[value] = _build_value(events)
        elif prefix == "" and event == "end_map":
            break
    raise SourceError(
        f"{reader.location}: {name} has no {export_file.records_key!r} member",
        location=reader.location,
    )


def _build_value(events):
    builder = ijson.ObjectBuilder()
    depth = 0
    for _prefix, event, value in events:
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
        if depth == 0:
            return builder.value
    return builder.value  # pragma: no cover - the parser raises on a truncated value first


_MEMBER_START = re.compile(r',\s*"')
_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"\s*")


def _trailing_fields(reader: TrackedReader, records_key: str) -> dict:
    """Top-level fields after the records, found in the file's last ``TAIL_SIZE`` bytes.

    Every ``, "key": value`` in the tail is a candidate member; one whose members run exactly to
    the final ``}`` is at the top level (inside the records, the records' own closing bracket is
    always left over). Candidates are solved from the end, each reusing the answer of the member
    that follows it, so the tail is parsed once.
    """
    tail = reader.tail
    if reader.bytes_read <= len(tail):  # the whole file is in memory: read it exactly
        try:
            document = json.loads(tail)
        except RecursionError:  # a record nested too deep for json: look member by member
            document = None
        if document is not None:
            keys = list(document)
            return {key: document[key] for key in keys[keys.index(records_key) + 1 :]}
    text = tail.decode("utf-8", errors="replace")
    rest: dict[int, dict | None] = {}  # comma position -> the members from there to the end
    last_brace = len(text.rstrip()) - 1
    first = None
    for match in reversed(list(_MEMBER_START.finditer(text))):
        comma = match.start()
        rest[comma] = _member_chain(text, comma + 1, rest, last_brace)
        if rest[comma] is not None:
            first = rest[comma]
    return first or {}


def _member_chain(text: str, pos: int, rest: dict, last_brace: int) -> dict | None:
    try:
        key, pos = _DECODER.raw_decode(text, _WHITESPACE.match(text, pos).end())
        pos = _WHITESPACE.match(text, pos).end()
        if text[pos] != ":":
            return None
        value, pos = _DECODER.raw_decode(text, _WHITESPACE.match(text, pos + 1).end())
        pos = _WHITESPACE.match(text, pos).end()
    except (ValueError, IndexError, RecursionError):
        return None
    if pos == last_brace and text[pos] == "}":
        return {key: value}
    if text[pos] == "," and rest.get(pos) is not None:
        return {key: value, **rest[pos]}
    return None


PROGRESS_EVERY = 1000
# The C parser (yajl2_c) refuses a whole file at a number beyond 64-bit integer or double range;
# such a file is read again with ijson's pure-Python parser, which reads any number, so that
# only the records holding one are rejected (see OutOfRange).
_PYTHON = ijson.get_backend("python")
_NUMBERS = {ijson: {"use_float": True}, _PYTHON: {}}
_OVERFLOW = ("integer overflow", "numeric (floating point) overflow")


class OutOfRange:
    """A record holding a number no database column or JSON value of both databases holds (an
    integer beyond 64 bits, a number beyond double range): the pipeline rejects it, naming
    ``field``. ``record`` is the record with such numbers written as strings (storable)."""

    __slots__ = ("field", "number", "record")

    def __init__(self, record, field: str, number: str):
        self.record, self.field, self.number = record, field, number


def _numbers_checked(value):
    """A record read by the Python parser: its decimals as floats (as the C parser gives them),
    or an OutOfRange when a number exceeds what a column or both databases' JSON can hold."""
    found: list[tuple[str, str]] = []

    def walk(item, path):
        kind = type(item)
        if kind is dict:
            return {k: walk(v, f"{path}.{k}" if path else k) for k, v in item.items()}
        if kind is list:
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(item)]
        if kind is decimal.Decimal:
            number = float(item)
            if math.isinf(number):
                found.append((path, str(item)))
                return str(item)
            return number
        if kind is int and not -(2**63) <= item < 2**63:
            found.append((path, str(item)))
            return str(item)
        return item

    checked = walk(value, "")
    if found:
        return OutOfRange(checked, found[0][0], found[0][1])
    return checked


def iter_records(export_file: ExportFile, *, progress=None) -> Iterator[tuple[object, object]]:
    """``(position, record)`` pairs of one file: ``(index, record)`` for providers.json and
    models.json, ``(model slug, status or list of statuses)`` for model-status.json.

    ``progress(bytes_read)`` is called every ``PROGRESS_EVERY`` records and at the end."""
    done = [0]
    try:
        yield from _read_records(export_file, ijson, done, progress)
    except _NumberOverflow:
        # Read again from the start with the Python parser; the records already given are
        # skipped (they were complete and in range).
        yield from _read_records(export_file, _PYTHON, done, progress, skip=done[0])


class _NumberOverflow(Exception):
    pass


def _read_records(export_file, backend, done, progress, skip: int = 0):
    reader = export_file.open()
    last = ""
    numbers = _NUMBERS[backend]
    try:
        try:
            head, prefix = _read_head(reader, export_file, backend)
        except ijson.JSONError as exc:
            if reader.bytes_read == 0:
                raise SourceError(
                    f"{reader.location}: {export_file.name} is empty", location=reader.location
                ) from exc
            if backend is ijson and any(text in str(exc) for text in _OVERFLOW):
                raise _NumberOverflow from exc
            raise _parse_error(reader, exc, last) from exc
        reader.replay_head()
        if export_file.kind == "statuses":
            items = backend.kvitems(reader, "statuses", **numbers)
        else:
            items = enumerate(backend.items(reader, prefix, **numbers))
        count = 0
        try:
            for position, record in items:
                count += 1
                if count > skip:
                    if backend is not ijson:
                        record = _numbers_checked(record)
                    yield position, record
                    done[0] = count
                last = f"record {position!r}" if export_file.kind == "statuses" else f"#{position}"
                if progress is not None and count % PROGRESS_EVERY == 0:
                    progress(reader.bytes_read)
        except ijson.JSONError as exc:
            if backend is ijson and any(text in str(exc) for text in _OVERFLOW):
                raise _NumberOverflow from exc
            raise _parse_error(reader, exc, last) from exc
        if progress is not None:
            progress(reader.bytes_read)
        envelope = dict(head)
        if prefix != "item":
            envelope.update(_trailing_fields(reader, export_file.records_key))
        if backend is not ijson:
            envelope = _numbers_checked(envelope)
            if isinstance(envelope, OutOfRange):
                envelope = envelope.record
        export_file.envelope = envelope
        export_file.shape = "array" if prefix == "item" else "object"
        export_file.size = reader.bytes_read
        export_file.sha256 = reader.sha256
    finally:
        reader.close()


def file_size(location: str) -> int | None:
    try:
        return os.path.getsize(location)
    except OSError:
        return None


def file_sha256(location: str) -> str:
    """SHA-256 of a local export file (to tell whether a validation covers the current export)."""
    digest = hashlib.sha256()
    with open(location, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def export_checksums(files: dict[str, ExportFile]) -> dict[str, str | None]:
    """SHA-256 of each file of an export, by file name (reads local files; URLs are fetched)."""
    sums = {}
    for export_file in files.values():
        if export_file.is_url:
            reader = export_file.open()
            try:
                while reader.read(READ_SIZE):
                    pass
            finally:
                reader.close()
            sums[export_file.name] = reader.sha256
        else:
            sums[export_file.name] = file_sha256(export_file.location)
    return sums


__all__ = [
    "FILES",
    "KINDS",
    "ExportFile",
    "SourceError",
    "default_sources",
    "export_checksums",
    "iter_records",
    "resolve",
]
