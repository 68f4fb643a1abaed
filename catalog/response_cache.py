"""A cache of the database backend's answers, keyed by the catalog's version.

Every committed change to the catalog tables raises ``catalog_catalogversion.version`` (database
triggers, see migration 0003), in the same transaction as the change. A read first reads the
version (one indexed row), then looks for an answer stored under it. Why that is never stale:
the version is read before the data, so an answer computed after reading version V holds every
write up to V (maybe more); once a write commits, every read sees a version above all earlier
ones and misses every entry computed before it.

What is cached is the answer as the API sends it (encoded JSON bytes, see live.serving): a hit
costs the version's one round trip, a dictionary lookup, and no encoding. The version's query
is the only database work of a hit, and it is also the connection's health check (Django's
``CONN_HEALTH_CHECKS`` would add a ``SELECT 1`` before it): a query that fails on a reused
connection the server has dropped is tried once more on a new one.

Two levels: this process keeps the answers of the current version in a dict (no pickling), and
Django's default cache (``CACHE_URL``) shares them between workers and instances (Redis in
production; local memory by default). Reads inside a transaction bypass both: they may see their
own uncommitted writes, which must never reach other readers. A shared cache that fails (Redis
down) is skipped, and said once in the log: the database still answers.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

_MISSING = object()
_served = threading.local()
_failing = False
# This process's answers for one version: {"version": V, "answers": {key: value}, "bytes": n}.
# Replaced, not emptied, when the version moves, so a reader in another thread never sees a
# mixed state. Bounded in entries and in the bytes of the answers it holds.
LOCAL_ANSWERS_MAX = 512
LOCAL_ANSWERS_MAX_BYTES = 64 * 1024 * 1024
_local = {"version": None, "answers": {}, "bytes": 0}
# Part of every key: answers cached in an older format (a shared Redis across a deploy) are
# never read back as this one.
KEY_PREFIX = "catalog-answer"
_VERSION_SQL = "SELECT version FROM catalog_catalogversion WHERE id = 1"


def catalog_version() -> int:
    """The catalog's current version (0 before any write): one round trip."""
    reused = connection.connection is not None
    try:
        return _read_version()
    except DatabaseError:
        # What Django's health check is for: a kept connection the server closed while it sat
        # idle. Tried once more on a new connection (never inside a transaction).
        if not reused or connection.in_atomic_block or connection.is_usable():
            raise
        connection.close()
        return _read_version()


def _read_version() -> int:
    connection.ensure_connection()
    with connection.wrap_database_errors:
        # The DB-API connection itself: Django's cursor would run its health check first.
        cursor = connection.connection.cursor()
        try:
            cursor.execute(_VERSION_SQL)
            row = cursor.fetchone()
        finally:
            cursor.close()
    # The connection has just answered: it is healthy for the rest of this request.
    connection.health_check_done = True
    return row[0] if row else 0


def cached(name: str, arguments, compute):
    """``compute()``, or the answer it gave for the same ``name``/``arguments`` at the current
    catalog version. Records whether the answer came from the cache (see :func:`take_hit`).
    The value is shared by every reader: it must be immutable (bytes, tuples)."""
    _served.hit = False
    seconds = settings.CATALOG_CACHE_SECONDS
    if seconds <= 0 or connection.in_atomic_block:
        return compute()
    global _local
    version = catalog_version()
    if not version:
        return compute()  # no version row (a flushed database): nothing to key answers by
    digest = hashlib.sha256(repr(arguments).encode()).hexdigest()[:32]
    key = f"{KEY_PREFIX}:{name}:{version}:{digest}"
    local = _local
    if local["version"] != version:
        local = _local = {"version": version, "answers": {}, "bytes": 0}
    value = local["answers"].get(key, _MISSING)
    if value is _MISSING:
        value = _cache_call(cache.get, key, _MISSING, failed=_MISSING)
        if value is _MISSING:
            # Stored in a 1-tuple: a cached None differs from a miss.
            value = (compute(),)
            _cache_call(cache.set, key, value, seconds)
        else:
            _served.hit = True
        size = _size(value[0])
        if (
            len(local["answers"]) < LOCAL_ANSWERS_MAX
            and local["bytes"] + size <= LOCAL_ANSWERS_MAX_BYTES
        ):
            local["answers"][key] = value
            local["bytes"] += size
    else:
        _served.hit = True
    return value[0]


def _size(value) -> int:
    """About how many bytes an answer holds (its encoded parts)."""
    if isinstance(value, bytes | str):
        return len(value)
    if isinstance(value, tuple):
        return sum(_size(item) for item in value)
    return 64


def _cache_call(method, *args, failed=None):
    global _failing
    try:
        result = method(*args)
    except Exception as exc:  # any cache failure: the database still answers
        if not _failing:
            logger.warning("event=response_cache_unavailable error=%r", str(exc).splitlines()[0])
            _failing = True
        return failed
    if _failing:
        logger.info("event=response_cache_available")
        _failing = False
    return result


def take_hit() -> bool:
    """Whether this thread's last cached read was answered from the cache (and forget it)."""
    hit = getattr(_served, "hit", False)
    _served.hit = False
    return hit
