"""What backfill_json and validate_migration record about a run, and who ran it."""

from __future__ import annotations

import getpass


def operator_name(given: str | None = None) -> str:
    """Who runs an operator command: ``--actor``, else the OS user."""
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"
