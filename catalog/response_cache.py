"""A cache of the database backend's answers, keyed by the catalog's version.

Every committed change to the catalog tables raises ``catalog_catalogversion.version`` (database
triggers, see migration 0003), in the same transaction as the change. A read first reads the
version (one indexed row), then looks for an answer stored under it. Why that is never stale:
the version is read before the data, so an answer computed after reading version V holds every
write up to V (maybe more); once a write commits, every read sees a version above all earlier
ones and misses every entry computed before it.

Two levels: this process keeps the answers of the current version in a dict (no pickling: a hit
costs the version's round trip and a lookup), and Django's default cache (``CACHE_URL``) shares
them between workers and instances (Redis in production; local memory by default). Reads inside
a transaction bypass both: they may see their own uncommitted writes, which must never reach
other readers. A shared cache that fails (Redis down) is skipped, and said once in the log: the
database still answers.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading

from django.conf import settings
from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)

_MISSING = object()
_served = threading.local()
_failing = False
# This process's answers for one version: {"version": V, "answers": {key: value}}. Replaced, not
# emptied, when the version moves, so a reader in another thread never sees a mixed state.
LOCAL_ANSWERS_MAX = 512
_local = {"version": None, "answers": {}}


def catalog_version() -> int:
    """The catalog's current version (0 before any write)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM catalog_catalogversion WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else 0


def cached(name: str, arguments, compute):
    """``compute()``, or the answer it gave for the same ``name``/``arguments`` at the current
    catalog version. Records whether the answer came from the cache (see :func:`take_hit`)."""
    _served.hit = False
    seconds = settings.CATALOG_CACHE_SECONDS
    if seconds <= 0 or connection.in_atomic_block:
        return compute()
    global _local
    version = catalog_version()
    if not version:
        return compute()  # no version row (a flushed database): nothing to key answers by
    digest = hashlib.sha256(repr(arguments).encode()).hexdigest()[:32]
    key = f"catalog-read:{name}:{version}:{digest}"
    local = _local
    if local["version"] != version:
        local = _local = {"version": version, "answers": {}}
    value = local["answers"].get(key, _MISSING)
    if value is _MISSING:
        value = _cache_call(cache.get, key, _MISSING, failed=_MISSING)
    if value is _MISSING:
        # Stored in a 1-tuple: a cached None (an unknown slug) differs from a miss.
        value = (compute(),)
        _cache_call(cache.set, key, value, seconds)
    else:
        _served.hit = True
    if len(local["answers"]) < LOCAL_ANSWERS_MAX:
        local["answers"][key] = value
    # A shallow copy: callers may add to the dict they get (the response envelope).
    return copy.copy(value[0])


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
