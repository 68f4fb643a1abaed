"""An append-only journal file: the queue of writes the database has not taken yet.

It must not depend on the database (it exists for when the database is down), so it is a file of
JSON lines, appended and fsynced under an exclusive lock that holds across processes. Replaying
takes the lock, applies the entries in order, and keeps whatever did not apply.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from migrator.errors import first_line


def path() -> Path:
    return Path(settings.WRITE_JOURNAL_DIR) / "database.jsonl"


@contextlib.contextmanager
def _locked(mode: str):
    journal = path()
    journal.parent.mkdir(parents=True, exist_ok=True)
    with open(journal.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(journal, mode) as handle:
                yield handle
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append(entry: dict) -> None:
    """Add ``entry`` durably (it is on disk when this returns)."""
    line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
    with _locked("a") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def entries() -> list[dict]:
    journal = path()
    if not journal.exists():
        return []
    with _locked("r") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def depth() -> int:
    return len(entries())


def is_empty() -> bool:
    journal = path()
    return not journal.exists() or journal.stat().st_size == 0


def replay(
    apply: Callable[[dict], None],
    *,
    set_aside: Callable[[dict, BaseException], bool] | None = None,
) -> tuple[int, int, str]:
    """Apply the entries in order until one fails; keep it and the rest. ``(applied, left,
    last error)``. ``set_aside(entry, error)`` may take a failed entry off the journal (True:
    e.g. it became a dead letter) so that the entries after it go on. The file is rewritten
    atomically, so a crash mid-replay loses nothing (an entry applied twice is harmless: every
    write is an idempotent upsert or delete)."""
    if is_empty():
        return 0, 0, ""
    with _locked("r") as handle:
        pending = [json.loads(line) for line in handle if line.strip()]
        applied, removed, error = 0, 0, ""
        left = []
        for position, entry in enumerate(pending):
            try:
                apply(entry)
            except Exception as exc:
                if set_aside is not None and set_aside(entry, exc):
                    removed += 1
                    continue
                error = first_line(exc)  # the store is still failing: keep the rest for later
                left = pending[position:]
                break
            applied += 1
        if applied or removed:
            temporary = path().with_suffix(".tmp")
            with open(temporary, "w") as out:
                out.writelines(
                    json.dumps(e, separators=(",", ":"), default=str) + "\n" for e in left
                )
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path())
        return applied, len(left), error
