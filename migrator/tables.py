"""Bulk reads and writes of the catalog tables, the fast way each database allows.

PostgreSQL inserts with ``COPY`` and updates through a ``COPY``-filled temporary table; SQLite
uses ``executemany`` (it runs in-process, where that is already the fast path). Rows are plain
dicts keyed by column; this module is the only place that knows SQL.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Model as DjangoModel

from catalog.models import Model, ModelStatus, Provider
from catalog.serializers import MODEL_COLUMNS, PROVIDER_COLUMNS, STATUS_COLUMNS

JSON_COLUMNS = frozenset({"regions", "metadata", "modalities", "capabilities", "tags"})
DATETIME_COLUMNS = frozenset({"released_at", "deprecated_at", "checked_at"})


@dataclasses.dataclass(frozen=True)
class Table:
    """One catalog table as the loader sees it."""

    entity: str
    model: type[DjangoModel]
    columns: tuple[str, ...]  # written columns, foreign key included, source_hash last
    key: tuple[str, ...]  # natural key

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    @property
    def compared(self) -> tuple[str, ...]:
        """Columns that carry source data (what "unchanged" is judged on)."""
        return tuple(c for c in self.columns if c != "source_hash")


PROVIDERS = Table("providers", Provider, (*PROVIDER_COLUMNS, "source_hash"), ("slug",))
MODELS = Table("models", Model, ("provider_id", *MODEL_COLUMNS, "source_hash"), ("slug",))
STATUSES = Table(
    "statuses", ModelStatus, ("model_id", *STATUS_COLUMNS, "source_hash"), ("model_id", "region")
)
TABLES = {table.entity: table for table in (PROVIDERS, MODELS, STATUSES)}


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _adapter(column: str):
    """How a Python value of ``column`` is handed to the database driver."""
    if column in JSON_COLUMNS:
        return lambda value: json.dumps(value, separators=(",", ":"))
    if column in DATETIME_COLUMNS and connection.vendor == "sqlite":
        return connection.ops.adapt_datetimefield_value
    return None


def _db_tuples(table: Table, rows: Iterable[dict], extra: tuple = ()) -> list[tuple]:
    adapters = [(column, _adapter(column)) for column in table.columns]
    return [
        tuple(
            adapt(row[column]) if adapt is not None and row[column] is not None else row[column]
            for column, adapt in adapters
        )
        + extra
        for row in rows
    ]


def existing_keys(table: Table, **filters) -> dict:
    """``{natural key: (id, source_hash)}`` of the rows matching ``filters``."""
    values = table.model.objects.filter(**filters).values_list(*table.key, "id", "source_hash")
    if len(table.key) == 1:
        return {row[0]: (row[1], row[2]) for row in values.iterator(chunk_size=5000)}
    return {(row[0], row[1]): (row[2], row[3]) for row in values.iterator(chunk_size=5000)}


def current_rows(table: Table, ids: list[int]) -> dict[int, dict]:
    """The compared columns of the rows with ``ids``, as Python values, by id."""
    rows = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        for row in table.model.objects.filter(id__in=chunk).values("id", *table.compared):
            rows[row.pop("id")] = row
    return rows


def insert(table: Table, rows: list[dict], now) -> None:
    if not rows:
        return
    columns = (*table.columns, "created_at", "updated_at")
    if connection.vendor == "postgresql":
        stamp = (now, now)
        column_list = ", ".join(_quote(c) for c in columns)
        sql = f"COPY {_quote(table.name)} ({column_list}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            for values in _db_tuples(table, rows, stamp):
                copy.write_row(values)
        return
    stamp = tuple(connection.ops.adapt_datetimefield_value(now) for _ in range(2))
    placeholders = ", ".join(["%s"] * len(columns))
    sql = (
        f"INSERT INTO {_quote(table.name)} ({', '.join(_quote(c) for c in columns)}) "
        f"VALUES ({placeholders})"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, _db_tuples(table, rows, stamp))


def update(table: Table, rows: list[dict], now) -> None:
    """Write every column of ``rows`` (each with its ``id``) and stamp ``updated_at``."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        staging = f"staging_{table.name}"
        columns = ("id", *table.columns)
        column_list = ", ".join(_quote(c) for c in columns)
        assignments = ", ".join(f"{_quote(c)} = s.{_quote(c)}" for c in table.columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} "
                f"(LIKE {_quote(table.name)} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            with cursor.copy(f"COPY {staging} ({column_list}) FROM STDIN") as copy:
                for row, values in zip(rows, _db_tuples(table, rows), strict=True):
                    copy.write_row((row["id"], *values))
            cursor.execute(
                f"UPDATE {_quote(table.name)} AS t SET {assignments}, updated_at = %s "
                f"FROM {staging} AS s WHERE t.id = s.id",
                [now],
            )
            cursor.execute(f"DELETE FROM {staging}")
        return
    assignments = ", ".join(f"{_quote(c)} = %s" for c in table.columns)
    sql = f"UPDATE {_quote(table.name)} SET {assignments}, updated_at = %s WHERE id = %s"
    stamp = connection.ops.adapt_datetimefield_value(now)
    values = [
        (*db_values, stamp, row["id"])
        for row, db_values in zip(rows, _db_tuples(table, rows), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


def set_hashes(table: Table, pairs: list[tuple[int, str]]) -> None:
    """Record new source fingerprints for rows whose values were already right."""
    if not pairs:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {_quote(table.name)} SET source_hash = %s WHERE id = %s",
            [(digest, row_id) for row_id, digest in pairs],
        )


def snapshot(table: Table, ids: list[int]) -> list[dict]:
    """Every column of the rows with ``ids``, JSON-ready (for the prune archive)."""
    rows = []
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        for row in table.model.objects.filter(id__in=chunk).values():
            rows.append(json.loads(json.dumps(row, cls=DjangoJSONEncoder)))
    return rows


def delete(table: Table, ids: list[int]) -> None:
    for start in range(0, len(ids), 5000):
        table.model.objects.filter(id__in=ids[start : start + 5000]).delete()
