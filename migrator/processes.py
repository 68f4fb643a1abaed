"""Which process runs an operator command, and whether it still does (a run killed with ``kill -9``
cannot say so itself)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

# A process that started this long after the run did is not the run's process: its pid was reused.
PID_REUSE_SLACK_SECONDS = 5.0


def current_pid() -> int:
    """This process's id (the default of a run record's ``pid``)."""
    return os.getpid()


def current_host() -> str:
    """This machine's name (the default of a run record's ``host``)."""
    return socket.gethostname()


def _start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where /proc says it (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    # Field 22 (starttime, clock ticks after boot); the name in field 2 may hold spaces.
    fields = stat.rpartition(")")[2].split()
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def is_alive(pid: int, *, started_at: float) -> bool:
    """Whether the process ``pid`` of this host that started a run at ``started_at`` still runs."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    began = _start_time(pid)
    return began is None or began <= started_at + PID_REUSE_SLACK_SECONDS
