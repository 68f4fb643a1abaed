"""A cache of the database backend's answers, keyed by the catalog's version.

Every committed change to the catalog tables raises ``catalog_catalogversion.version`` (database
triggers, see migration 0003), in the same transaction as the change. A read first reads the
version (one indexed row), then looks for an answer stored under it. Why that is never stale:
the version is read before the data, so an answer computed after reading version V holds every
write up to V (maybe more); once a write commits, every read sees a version above all earlier
ones and misses every entry computed before it.

The cache is Django's default cache (``CACHE_URL``): local memory per worker by default, Redis
(shared by every worker and instance) in production. Reads inside a transaction bypass it: they
may see their own uncommitted writes, which must never reach other readers. A cache that fails
(Redis down) is skipped, and said once in the log: the database still answers.
"""

from __future__ import annotations

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
    digest = hashlib.sha256(repr(arguments).encode()).hexdigest()[:32]
    key = f"catalog-read:{name}:{catalog_version()}:{digest}"
    value = _cache_call(cache.get, key, _MISSING, failed=_MISSING)
    if value is not _MISSING:
        _served.hit = True
        return value[0]
    value = compute()
    # Stored in a 1-tuple: a cached None (an unknown slug) differs from a miss.
    _cache_call(cache.set, key, (value,), seconds)
    return value


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
