"""Shadow reads: a sample of reads is also answered by the other store, and the answers compared.

Scientist-style: the serving store's answer is returned at once; the other store is asked in a
background thread, so its latency never reaches the client. Mismatches are counted, with a
capped list of examples, and counted in the shared counters that the automatic-rollback
guard reads.
"""

from __future__ import annotations

import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import F
from django.utils import timezone

from catalog.backends import BackendUnavailable, get_backend
from live import counters
from migrator.models import Backend, ShadowMismatch, ShadowStats

logger = logging.getLogger(__name__)

ENVELOPE = ("timestamp", "dataSource", "cached", "fallbackReason")
MAX_EXAMPLES = 50
_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="shadow")
_rng = random.Random()  # noqa: S311 (sampling, not secrets)


def sampled(percent: float) -> bool:
    return percent > 0 and _rng.uniform(0, 100) < percent


def compare_later(path: str, read, serving: str, other: str, body: dict) -> None:
    """Ask ``other`` the same read and compare, off the request's path."""
    if settings.SHADOW_IN_BACKGROUND:
        _executor.submit(_compare, path, read, serving, other, body)
    else:
        _compare(path, read, serving, other, body)


def _comparable(body: dict) -> str:
    return json.dumps(
        {k: v for k, v in body.items() if k not in ENVELOPE}, sort_keys=True, default=str
    )


def _compare(path, read, serving, other, body):
    try:
        try:
            theirs = read(get_backend(other))
        except BackendUnavailable as exc:
            logger.info("event=shadow_skipped store=%s reason=%r", other, str(exc))
            return
        if not isinstance(theirs, dict):  # e.g. a 404 answered as a response
            theirs = {"status": getattr(theirs, "status_code", None)}
            ours = {"status": body.get("status")} if "status" in body else body
        else:
            ours = body
        mismatch = _comparable(ours) != _comparable(theirs)
        _record(path, serving, other, mismatch, ours, theirs)
        if mismatch:
            # Counted against the database, the store on trial, for the whole service's guard.
            counters.record_mismatch(Backend.DATABASE)
    except Exception:  # a shadow read must never hurt the service
        logger.exception("event=shadow_failed path=%s", path)
    finally:
        if settings.SHADOW_IN_BACKGROUND:
            connection.close()


def _record(path, serving, other, mismatch, ours, theirs):
    try:
        ShadowStats.objects.get_or_create(pk=1, defaults={"since": timezone.now()})
        ShadowStats.objects.filter(pk=1).update(
            compared=F("compared") + 1, mismatched=F("mismatched") + int(mismatch)
        )
        if mismatch and ShadowMismatch.objects.count() < MAX_EXAMPLES:
            ShadowMismatch.objects.create(
                path=path[:2048],
                serving=serving,
                difference=_describe(ours, theirs, serving, other),
            )
    except DatabaseError as exc:
        logger.warning("event=shadow_unrecorded error=%r", str(exc))


def _describe(ours: dict, theirs: dict, serving: str, other: str) -> str:
    """The differing leaves, one per line: ``path: serving=value other=value``."""
    lines: list[str] = []
    _diff(
        {k: v for k, v in ours.items() if k not in ENVELOPE},
        {k: v for k, v in theirs.items() if k not in ENVELOPE},
        "",
        lines,
    )
    shown = [f"{path or '(body)'}: {serving}={a} {other}={b}" for path, a, b in lines[:20]]
    if len(lines) > 20:
        shown.append(f"... {len(lines) - 20} more")
    return "\n".join(shown)[:4000]


def _diff(a, b, path: str, out: list) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            _diff(a.get(key, "(absent)"), b.get(key, "(absent)"), f"{path}.{key}".lstrip("."), out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{index}]", out)
    elif json.dumps(a, sort_keys=True, default=str) != json.dumps(b, sort_keys=True, default=str):
        out.append((path, json.dumps(a, default=str)[:200], json.dumps(b, default=str)[:200]))
