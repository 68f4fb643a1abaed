"""Stored status fingerprints, read over a connection of the reading process's own.

backfill_json's and validate_migration's reading processes (forked children) use them to skip
the mapping of records that are unchanged since they were loaded, the bulk of a re-run. The
child may not use the parent's connection, so it opens its own; it sees committed rows only, so
a fingerprint found here is a hint ("this record was loaded as it is"), and a record without one
simply takes the full path. If the connection cannot be opened, there are no hints.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3

from django.db import connection

logger = logging.getLogger(__name__)

_DRIVER_ONLY = {"cursor_factory", "context", "prepare_threshold"}
STATUS_TABLE = "catalog_modelstatus"


class FingerprintReader:
    """Built in the parent (it knows the settings), opened in the child (fork)."""

    def __init__(self):
        self.vendor = connection.vendor
        if self.vendor == "postgresql":
            params = connection.get_connection_params()
            self.params = {k: v for k, v in params.items() if k not in _DRIVER_ONLY}
        else:
            self.params = {"database": str(connection.settings_dict["NAME"])}
        self._connection = None

    def open(self) -> bool:
        try:
            if self.vendor == "postgresql":
                import psycopg

                self._connection = psycopg.connect(**self.params, autocommit=True)
            else:
                database = self.params["database"]
                if "mode=memory" in database or database == ":memory:":
                    return False  # a test's in-memory database: not shared with this process
                self._connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        except Exception as exc:  # no hints, then: every record takes the full path
            logger.info("event=fingerprints_unavailable error=%r", str(exc).splitlines()[0])
            self._connection = None
            return False
        return True

    def statuses(self, model_ids: list[int]) -> dict[tuple[int, str], str]:
        """``{(model id, region): fingerprint}`` of the stored statuses of these models."""
        if self._connection is None or not model_ids:
            return {}
        placeholder = "%s" if self.vendor == "postgresql" else "?"
        found = {}
        try:
            for start in range(0, len(model_ids), 5000):
                chunk = model_ids[start : start + 5000]
                sql = (
                    f"SELECT model_id, region, source_hash FROM {STATUS_TABLE} "  # noqa: S608
                    f"WHERE model_id IN ({', '.join([placeholder] * len(chunk))})"
                )
                for model_id, region, digest in self._connection.execute(sql, chunk):
                    found[(model_id, region)] = digest
        except Exception as exc:
            logger.info("event=fingerprints_unavailable error=%r", str(exc).splitlines()[0])
            self.close()
            return {}
        return found

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
