"""Running a reader in a forked child process: it parses, the parent writes or compares.

Parsing a large export is CPU-bound Python; the database work is not. On a two-core machine a
child that reads while the parent works on the previous batch (and PostgreSQL on its queries)
uses both cores. The child holds copies of the parent's open connections and must never use
them: it closes its copies of their sockets, without a word to the server, and dies with its
parent. Where fork is unavailable (or BACKFILL_PARALLEL is off), the reader runs inline.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import resource
import signal
import sys
from collections.abc import Callable, Iterator
from queue import Empty

from django.conf import settings

from migrator.errors import SourceError

QUEUE_BATCHES = 3  # batches the reader may be ahead of the parent (a few MB each)


def children_peak_rss_mb() -> float:
    """The largest peak RSS of this process's finished children (the readers), in MB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def in_child(batches: Callable[[], Iterator], *, name: str, describe: str) -> Iterator:
    """What ``batches()`` yields, computed in a forked child; ``describe`` names the source in
    errors. The iterator ends after the item for which the child stops."""
    if not settings.BACKFILL_PARALLEL or "fork" not in multiprocessing.get_all_start_methods():
        yield from batches()
        return
    context = multiprocessing.get_context("fork")
    # A queue, not a bare pipe: its feeder thread sends one batch while the child parses the
    # next, so the reader works ahead instead of waiting for the parent to read.
    queue = context.Queue(maxsize=QUEUE_BATCHES)
    child = context.Process(
        target=_child, args=(batches, queue, os.getpid()), daemon=True, name=name
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
                    f"{describe}: the reading process stopped unexpectedly (exit code "
                    f"{child.exitcode}); run the command again",
                    location=describe,
                ) from None
            if kind == "error":
                raise payload
            if kind == "end":
                return
            yield payload
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        queue.close()
        queue.cancel_join_thread()


def _detach(parent_pid: int) -> None:
    """Cut the child loose from the parent's resources, without touching them for the parent.

    Were the parent killed, a copy of its database socket kept open here would keep its server
    session (and its locks) alive. Closing the child's copy of the descriptor sends nothing
    (closing the connection object would end the parent's session).
    """
    from django.db import connections

    for alias in connections:
        raw = getattr(connections[alias], "connection", None)
        pgconn = getattr(raw, "pgconn", None)
        if pgconn is not None:
            with contextlib.suppress(OSError):
                os.close(pgconn.socket)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the parent
    if os.getppid() != parent_pid:
        os._exit(1)


def _child(batches, queue, parent_pid: int) -> None:
    # Never use the parent's connections, not even to close them at exit: hence os._exit.
    _detach(parent_pid)
    # Millions of small, acyclic objects: the cyclic collector would only walk them again.
    gc.disable()
    code = 0
    try:
        for batch in batches():
            queue.put(("batch", batch))
        queue.put(("end", None))
    except BaseException as exc:  # every failure goes back to the parent...
        code = 1
        with contextlib.suppress(BrokenPipeError, OSError):  # ...unless it is gone
            queue.put(("error", exc))
    finally:
        queue.close()
        queue.join_thread()  # everything sent before leaving
        sys.stdout.flush()
        os._exit(code)
