"""Bulk reads and writes of the catalog tables, the fast way each database allows.

PostgreSQL inserts with ``COPY`` and updates through a ``COPY``-filled temporary table; SQLite
uses ``executemany`` (it runs in-process, where that is already the fast path). Rows are plain
dicts keyed by column; this module is the only place that knows SQL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import operator
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


def _to_json(value):
    return (
        "{}" if value == {} else "[]" if value == [] else json.dumps(value, separators=(",", ":"))
    )


def _db_tuples(table: Table, rows: Iterable, extra: tuple = ()) -> list[list]:
    """Rows (dicts by column, or tuples in ``table.columns`` order) as driver-ready lists,
    ``extra`` appended. JSON becomes text, datetimes ISO text (SQLite's own format there):
    both drivers take text far faster than datetime objects."""
    getter = operator.itemgetter(*table.columns)
    convert = ready_converter(table.columns)
    tuples = []
    for row in rows:
        values = convert(row if type(row) is tuple else getter(row))
        values.extend(extra)
        tuples.append(values)
    return tuples


def existing_keys(table: Table, column: str, values: list) -> dict:
    """``{natural key: (id, source_hash)}`` of the rows whose ``column`` is in ``values``."""
    if not values:
        return {}
    key_list = ", ".join(_quote(c) for c in table.key)
    found = {}
    with connection.cursor() as cursor:
        for start in range(0, len(values), 5000):
            chunk = values[start : start + 5000]
            placeholders = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT {key_list}, id, source_hash FROM {_quote(table.name)} "
                f"WHERE {_quote(column)} IN ({placeholders})",
                chunk,
            )
            if len(table.key) == 1:
                found.update((row[0], (row[1], row[2])) for row in cursor.fetchall())
            else:
                found.update(((row[0], row[1]), (row[2], row[3])) for row in cursor.fetchall())
    return found


def is_empty(table: Table) -> bool:
    return not table.model.objects.exists()


def refresh_statistics(table: Table, *, only_if_missing: bool = False) -> None:
    """ANALYZE ``table`` on PostgreSQL, so that the planner's lookups by key use the indexes
    after a bulk load (a table never analyzed gets sequential scans). No-op on SQLite."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if only_if_missing:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table.name])
            row = cursor.fetchone()
            if row is None or row[0] >= 0:
                return
        cursor.execute(f"ANALYZE {_quote(table.name)}")


def _missing_indexes(table: Table) -> list:
    with connection.cursor() as cursor:
        present = {
            name
            for name, info in connection.introspection.get_constraints(cursor, table.name).items()
            if info["index"]
        }
    return [index for index in table.model._meta.indexes if index.name not in present]


def ensure_indexes(table: Table) -> list[str]:
    """Create the secondary indexes the model declares and the table lacks (a first load killed
    while they were dropped leaves them missing); the names of those created."""
    missing = _missing_indexes(table)
    if missing:
        with connection.schema_editor() as editor:
            for index in missing:
                editor.add_index(table.model, index)
    return [index.name for index in missing]


@contextlib.contextmanager
def without_secondary_indexes(table: Table):
    """Empty table only: drop the secondary indexes for a bulk load and build them once at the
    end (one sort instead of a million insertions); always rebuilt on the way out."""
    indexes = [i for i in table.model._meta.indexes if i not in _missing_indexes(table)]
    if not indexes:
        yield
        return
    with connection.schema_editor() as editor:
        for index in indexes:
            editor.remove_index(table.model, index)
    try:
        yield
    finally:
        ensure_indexes(table)


def check_constraints_now() -> None:
    """Check foreign keys row by row as COPY runs (Django declares them deferred): the server
    does that work while this process parses the next rows, instead of all of it at commit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def current_rows(table: Table, ids: list[int]) -> dict[int, dict]:
    """The compared columns of the rows with ``ids``, as Python values, by id."""
    rows = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        for row in table.model.objects.filter(id__in=chunk).values("id", *table.compared):
            rows[row.pop("id")] = row
    return rows


def ready_converter(columns: tuple[str, ...]):
    """``values -> list``: Python values in ``columns`` order made driver-ready (JSON as text,
    datetimes as ISO text, or SQLite's own text format), which both drivers take far faster."""
    json_at = [i for i, c in enumerate(columns) if c in JSON_COLUMNS]
    time_at = [i for i, c in enumerate(columns) if c in DATETIME_COLUMNS]
    as_text = _sqlite_datetime if connection.vendor == "sqlite" else dt.datetime.isoformat

    def convert(values) -> list:
        values = list(values)
        for i in json_at:
            values[i] = _to_json(values[i])
        for i in time_at:
            if values[i] is not None:
                values[i] = as_text(values[i])
        return values

    return convert


def _sqlite_datetime(value: dt.datetime) -> str:
    """Django's SQLite spelling of a datetime (naive UTC, ``YYYY-MM-DD HH:MM:SS[.ffffff]``),
    without its per-call settings lookups (this runs a million times)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(" ")


def python_values(columns: tuple[str, ...], values) -> dict:
    """Driver-ready values (see ready_converter) back to Python, as a dict by column."""
    row = dict(zip(columns, values, strict=True))
    for column in columns:
        value = row[column]
        if value is None or not isinstance(value, str):
            continue
        if column in JSON_COLUMNS:
            row[column] = json.loads(value)
        elif column in DATETIME_COLUMNS:
            parsed = dt.datetime.fromisoformat(value)
            row[column] = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return row


def insert(table: Table, rows: list, now, *, ready: bool = False) -> None:
    """Insert ``rows``: dicts by column or tuples in ``table.columns`` order, of Python values,
    or of driver-ready ones (``ready``, see ready_converter)."""
    if not rows:
        return
    columns = (*table.columns, "created_at", "updated_at")
    if connection.vendor == "postgresql":
        stamp = (now.isoformat(), now.isoformat())
        column_list = ", ".join(_quote(c) for c in columns)
        sql = f"COPY {_quote(table.name)} ({column_list}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            write_row = copy.write_row
            for values in rows if ready else _db_tuples(table, rows):
                write_row((*values, *stamp))
        return
    stamp = tuple(connection.ops.adapt_datetimefield_value(now) for _ in range(2))
    placeholders = ", ".join(["%s"] * len(columns))
    sql = (
        f"INSERT INTO {_quote(table.name)} ({', '.join(_quote(c) for c in columns)}) "
        f"VALUES ({placeholders})"
    )
    with connection.cursor() as cursor:
        if ready:
            cursor.executemany(sql, [(*values, *stamp) for values in rows])
        else:
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
            # The written columns' types, without the table's constraints or defaults.
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "
                f"SELECT {column_list} FROM {_quote(table.name)} WITH NO DATA"
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
