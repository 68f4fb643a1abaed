"""Set-based SQL over the catalog tables: the only module of the move that writes SQL.

Each batch of accepted records is copied into a staging table (``COPY`` on PostgreSQL,
``executemany`` on SQLite) and the database itself matches it with the stored rows by natural
key and compares every column of the row as it is stored now (``IS DISTINCT FROM``; JSON as
JSON), so that a row changed behind the app's back (a ``QuerySet.update``, raw SQL, an edit in a
console) is seen, by backfill_json (which writes it back) and by validate_migration (which
reports it). Ids of the rows a run matched are kept in a second temporary table, so that the rows
an export no longer holds are found by one anti-join at the end.

Temporary tables live as long as the connection: operator commands use the direct URL
(``DIRECT_URL``), never a transaction-mode pooler, which would not keep them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import operator
from collections.abc import Iterable
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Model as DjangoModel

from catalog.fields import (
    JSON_COLUMNS,
    MODEL_FIELDS,
    PROVIDER_FIELDS,
    STATUS_FIELDS,
    TIMESTAMP_COLUMNS,
)
from catalog.models import Model, ModelStatus, Provider, StatusOrigin
from catalog.serializers import MODEL_COLUMNS, PROVIDER_COLUMNS, STATUS_COLUMNS

CHUNK = 5000
_ALL_FIELDS = (*PROVIDER_FIELDS, *MODEL_FIELDS, *STATUS_FIELDS)
FLOAT_COLUMNS = frozenset(f.column for f in _ALL_FIELDS if f.kind == "float")
BOOL_COLUMNS = frozenset(f.column for f in _ALL_FIELDS if f.kind == "bool")
PRICE_COLUMNS = frozenset(f.column for f in _ALL_FIELDS if f.kind == "price")


@dataclasses.dataclass(frozen=True)
class Table:
    """One catalog table as the loader sees it: the columns a record fills, how its natural key
    is matched, and the table whose natural key (``slug``) resolves its foreign key."""

    entity: str
    model: type[DjangoModel]
    columns: tuple[str, ...]
    parent: type[DjangoModel] | None = None
    parent_column: str = ""  # the foreign key column
    key_columns: tuple[str, ...] = ("slug",)  # matched between staged and stored rows
    key_includes_parent: bool = False  # statuses: (model, region)

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    @property
    def stage(self) -> str:
        return f"migrator_stage_{self.entity}"

    @property
    def seen(self) -> str:
        return f"migrator_seen_{self.entity}"


PROVIDERS = Table("providers", Provider, PROVIDER_COLUMNS)
MODELS = Table("models", Model, MODEL_COLUMNS, Provider, "provider_id")
STATUSES = Table(
    "statuses",
    ModelStatus,
    STATUS_COLUMNS,
    Model,
    "model_id",
    key_columns=("region",),
    key_includes_parent=True,
)
TABLES = {table.entity: table for table in (PROVIDERS, MODELS, STATUSES)}


def q(name: str) -> str:
    return connection.ops.quote_name(name)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


# --- driver-ready values ------------------------------------------------------------------------


def _to_json(value) -> str:
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _sqlite_datetime(value: dt.datetime) -> str:
    """Django's SQLite spelling of a datetime (naive UTC, ``YYYY-MM-DD HH:MM:SS[.ffffff]``)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(" ")


def ready_converter(columns: tuple[str, ...]):
    """``(row, pos, parent) -> [pos, parent, *values]``: a mapped row's values in ``columns``
    order, made driver-ready (JSON as text, datetimes as ISO text, or SQLite's own format),
    which both drivers take far faster, after the batch's own two."""
    json_at = tuple(i + 2 for i, c in enumerate(columns) if c in JSON_COLUMNS)
    time_at = tuple(i + 2 for i, c in enumerate(columns) if c in TIMESTAMP_COLUMNS)
    as_text = _sqlite_datetime if connection.vendor == "sqlite" else dt.datetime.isoformat
    get = operator.itemgetter(*columns)
    last = [None, None]  # the previous timestamp and its text (records share a snapshot time)

    def convert(row: dict, pos: int, parent: str) -> list:
        values = [pos, parent, *get(row)]
        for i in json_at:
            value = values[i]
            values[i] = "{}" if value == {} else _to_json(value)
        for i in time_at:
            value = values[i]
            if value is None:
                continue
            if value is not last[0]:
                last[:] = value, as_text(value)
            values[i] = last[1]
        return values

    return convert


def python_value(column: str, value):
    """A value as read back from a staging or catalog table (raw cursor), as Python: the two
    come back in different spellings on SQLite (declared types drive its converters)."""
    if value is None:
        return None
    if column in JSON_COLUMNS and isinstance(value, str):
        return json.loads(value)
    if column in TIMESTAMP_COLUMNS:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if column in BOOL_COLUMNS:
        return bool(value)
    if column in PRICE_COLUMNS and not isinstance(value, Decimal):
        return Decimal(repr(value) if isinstance(value, float) else str(value))
    return value


# --- staging ------------------------------------------------------------------------------------


def prepare(table: Table) -> None:
    """(Re)create the table's staging and seen tables, empty, for this connection."""
    columns = ", ".join(q(c) for c in table.columns)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table.stage}")
        cursor.execute(f"DROP TABLE IF EXISTS {table.seen}")
        # The stored columns' own types (no constraints, no defaults), plus the record's position
        # and its parent row's id (resolved from the parent's slug before staging).
        if _postgres():
            cursor.execute(
                f"CREATE TEMPORARY TABLE {table.stage} AS SELECT 0::bigint AS pos, "
                f"0::bigint AS parent_id, {columns} FROM {q(table.name)} WITH NO DATA"
            )
        else:
            cursor.execute(
                f"CREATE TEMPORARY TABLE {table.stage} AS SELECT 0 AS pos, 0 AS parent_id, "
                f"{columns} FROM {q(table.name)} WHERE 0"
            )
        cursor.execute(f"CREATE TEMPORARY TABLE {table.seen} (id bigint PRIMARY KEY)")


def drop(table: Table) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table.stage}")
        cursor.execute(f"DROP TABLE IF EXISTS {table.seen}")


class ParentIds:
    """Ids of a table's parent rows by slug (providers for models, models for statuses): a few
    thousand entries, held here so that the database joins only staged and stored rows."""

    def __init__(self, table: Table):
        self.model = table.parent
        self.ids: dict[str, int] = {}
        if self.model is not None:
            self.ids = dict(self.model.objects.values_list("slug", "id"))

    def learn(self, slugs: Iterable[str]) -> None:
        """Add the ids of rows created since (e.g. providers a model batch brought along)."""
        wanted = [slug for slug in slugs if slug not in self.ids]
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            self.ids.update(self.model.objects.filter(slug__in=chunk).values_list("slug", "id"))

    def get(self, slug: str) -> int | None:
        return self.ids.get(slug)


class Staging:
    """The staging side of one run: each table's parent ids (read when first needed) and its
    statistics (taken once, from the first full batch: later batches are alike, and without
    them PostgreSQL may scan the stored table for every batch)."""

    ANALYZE_FROM = 1000  # rows

    def __init__(self):
        self.parents: dict[str, ParentIds] = {}
        self.analyzed: set[str] = set()

    def load(self, table: Table, rows: list[list]) -> None:
        """Stage ``rows`` (see :func:`stage`) for ``table``."""
        if table.entity not in self.parents:
            self.parents[table.entity] = ParentIds(table)
        stage(table, rows, self.parents[table.entity])
        if len(rows) >= self.ANALYZE_FROM and table.entity not in self.analyzed:
            analyze_stage(table)
            self.analyzed.add(table.entity)

    def parent_ids(self, table: Table) -> dict[str, int]:
        """``{slug: id}`` of ``table``'s parent rows."""
        if table.entity not in self.parents:
            self.parents[table.entity] = ParentIds(table)
        return self.parents[table.entity].ids

    def learn(self, parent_of: Table, slugs: Iterable[str]) -> None:
        """Rows created in ``parent_of``'s parent table since its ids were read."""
        if parent_of.entity in self.parents:
            self.parents[parent_of.entity].learn(slugs)


def stage(table: Table, rows: list[list], parents: ParentIds | None = None) -> None:
    """Replace the staging table's rows with ``rows``: ``[pos, parent slug, *ready values]``
    (the parent slug becomes its id, or NULL when no such parent row exists)."""
    names = ("pos", "parent_id", *table.columns)
    ids = parents.ids if parents is not None else {}
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table.stage}")
        if not rows:
            return
        if _postgres():
            sql = f"COPY {table.stage} ({', '.join(q(n) for n in names)}) FROM STDIN"
            with cursor.copy(sql) as copy:
                write_row = copy.write_row
                get = ids.get
                for row in rows:
                    write_row((row[0], get(row[1]), *row[2:]))
        else:
            placeholders = ", ".join(["%s"] * len(names))
            cursor.executemany(
                f"INSERT INTO {table.stage} VALUES ({placeholders})",
                [(row[0], ids.get(row[1]), *row[2:]) for row in rows],
            )


def _match(table: Table) -> str:
    """Staged row ``s`` and stored row ``t`` have the same natural key."""
    match = [f"t.{q(c)} = s.{q(c)}" for c in table.key_columns]
    if table.key_includes_parent:
        match.insert(0, f"t.{q(table.parent_column)} = s.parent_id")
    return " AND ".join(match)


def _join(table: Table) -> str:
    """FROM clause: staged rows and the stored row each names (if any)."""
    return f"{table.stage} AS s LEFT JOIN {q(table.name)} AS t ON {_match(table)}"


def _differs(table: Table, tolerance: float = 0.0) -> str:
    """True where the stored row differs from the staged one in any column (NULLs compared as
    values; JSON as JSON, so spacing does not count; floats within ``tolerance`` as equal)."""
    terms = []
    columns = list(table.columns)
    if table.parent is not None and not table.key_includes_parent:
        columns.append(None)  # the parent: a model moved to another provider
    for column in columns:
        stored = f"t.{q(column or table.parent_column)}"
        staged = f"s.{q(column)}" if column else "s.parent_id"
        if tolerance and column in FLOAT_COLUMNS:
            terms.append(
                f"(({stored} IS NULL) <> ({staged} IS NULL) OR "
                f"abs({stored} - {staged}) > {float(tolerance)!r})"
            )
        elif _postgres():
            terms.append(f"{stored} IS DISTINCT FROM {staged}")
        elif column in JSON_COLUMNS:
            terms.append(f"json({stored}) IS NOT json({staged})")
        else:
            terms.append(f"{stored} IS NOT {staged}")
    return " OR ".join(terms)


def classify(
    table: Table, *, tolerance: float = 0.0
) -> list[tuple[int, int | None, int | None, bool]]:
    """``(pos, parent id, row id, differs)`` of each staged row: a missing parent id means an
    unknown parent; a missing row id, no stored row; ``differs``, a stored row not equal."""
    parent_id = "s.parent_id" if table.parent is not None else "NULL"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.pos, {parent_id}, t.id, CASE WHEN t.id IS NULL THEN 0 "
            f"WHEN {_differs(table, tolerance)} THEN 1 ELSE 0 END FROM {_join(table)}"
        )
        return [(pos, parent, row, bool(flag)) for pos, parent, row, flag in cursor.fetchall()]


def _stale() -> str:
    """A staged status older than the stored one: the stored row has a ``checked_at`` and the
    staged one has none (nothing shows it is newer) or an earlier one."""
    checked = q("checked_at")
    return f"(t.{checked} IS NOT NULL AND (s.{checked} IS NULL OR s.{checked} < t.{checked}))"


def stale_positions(table: Table) -> set[int]:
    """Positions of the staged statuses that are older than their stored row (see _stale)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT s.pos FROM {_join(table)} WHERE t.id IS NOT NULL AND {_stale()}")
        return {pos for (pos,) in cursor.fetchall()}


def _write_parts(table: Table):
    columns = ", ".join(q(c) for c in table.columns)
    staged = ", ".join(f"s.{q(c)}" for c in table.columns)
    fk_column, fk_value, parent_known = "", "", ""
    assignments = ", ".join(f"{q(c)} = s.{q(c)}" for c in table.columns)
    if table.parent is not None:
        fk_column, fk_value = f"{q(table.parent_column)}, ", "s.parent_id, "
        parent_known = "s.parent_id IS NOT NULL AND "
        if not table.key_includes_parent:
            assignments += f", {q(table.parent_column)} = s.parent_id"
    return columns, staged, fk_column, fk_value, parent_known, assignments


def insert_new(table: Table, now: dt.datetime) -> list[int]:
    """Insert the staged rows that have no stored row (and a known parent); their ids."""
    columns, staged, fk_column, fk_value, parent_known, _ = _write_parts(table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(table.name)} ({fk_column}{columns}, source_hash, created_at, "
            f"updated_at) SELECT {fk_value}{staged}, '', %s, %s FROM {_join(table)} "
            f"WHERE {parent_known}t.id IS NULL RETURNING id",
            [now, now],
        )
        return [row_id for (row_id,) in cursor.fetchall()]


def differing_ids(table: Table, *, skip_stale: bool = False) -> list[int]:
    """Ids of the stored rows that differ from their staged row (what :func:`update` writes).
    ``skip_stale`` (statuses): a stored row newer than the staged one is left out."""
    _, _, _, _, parent_known, _ = _write_parts(table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.id FROM {_join(table)} WHERE {parent_known}t.id IS NOT NULL "
            f"AND ({_differs(table)}){f' AND NOT {_stale()}' if skip_stale else ''}"
        )
        return [row_id for (row_id,) in cursor.fetchall()]


def update(table: Table, ids: list[int], now: dt.datetime) -> int:
    """Write the staged values into the stored rows ``ids`` (by primary key); how many."""
    *_, assignments = _write_parts(table)
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(ids), CHUNK):
            chunk = ", ".join(str(int(row_id)) for row_id in ids[start : start + CHUNK])
            cursor.execute(
                f"UPDATE {q(table.name)} AS t SET {assignments}, updated_at = %s, "
                f"source_hash = '' FROM {table.stage} AS s "
                f"WHERE t.id IN ({chunk}) AND {_match(table)}",
                [now],
            )
            updated += cursor.rowcount
    return updated


def mark_seen(table: Table) -> None:
    """Remember the stored rows the staged batch names (for the anti-join at the end)."""
    conflict = "ON CONFLICT DO NOTHING" if _postgres() else ""
    ignore = "" if _postgres() else "OR IGNORE "
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT {ignore}INTO {table.seen} (id) SELECT t.id FROM {table.stage} AS s "
            f"JOIN {q(table.name)} AS t ON {_match(table)} {conflict}"
        )


def staged_and_stored(table: Table, positions: list[int]) -> dict[int, tuple[dict, dict]]:
    """``{pos: (staged row, stored row)}`` as Python values, for the report of what differs."""
    found = {}
    names = table.columns
    staged = ", ".join(f"s.{q(c)}" for c in names)
    stored = ", ".join(f"t.{q(c)}" for c in names)
    with connection.cursor() as cursor:
        for start in range(0, len(positions), CHUNK):
            chunk = ", ".join(str(int(p)) for p in positions[start : start + CHUNK])
            cursor.execute(
                f"SELECT s.pos, {staged}, {stored} FROM {_join(table)} WHERE s.pos IN ({chunk})"
            )
            for pos, *values in cursor.fetchall():
                a = {
                    c: python_value(c, v) for c, v in zip(names, values[: len(names)], strict=True)
                }
                b = {
                    c: python_value(c, v) for c, v in zip(names, values[len(names) :], strict=True)
                }
                found[pos] = (a, b)
    return found


def unseen(table: Table, seen_ranges: Iterable[list[int]] = ()) -> list[tuple[int, str]]:
    """``(id, natural key)`` of the stored rows the run did not see, by id. ``seen_ranges``:
    ``[first, last]`` id ranges seen too (a first load's rows, not recorded one by one)."""
    key = f"t.{q('slug')}"
    join = ""
    if table is STATUSES:
        join = f"JOIN {q(Model._meta.db_table)} AS m ON m.id = t.{q('model_id')}"
        key = f"m.{q('slug')} || '@' || t.{q('region')}"
    outside = "".join(
        f" AND t.id NOT BETWEEN {int(first)} AND {int(last)}" for first, last in seen_ranges
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.id, {key} FROM {q(table.name)} AS t {join} WHERE NOT EXISTS "
            f"(SELECT 1 FROM {table.seen} AS n WHERE n.id = t.id){outside} ORDER BY t.id"
        )
        return cursor.fetchall()


def count(table: Table) -> int:
    return table.model.objects.count()


# --- housekeeping -------------------------------------------------------------------------------


def refresh_statistics(table: Table, *, only_if_missing: bool = False) -> None:
    """ANALYZE ``table`` on PostgreSQL, so that the planner's lookups by key use the indexes
    after a bulk load (a table never analyzed gets sequential scans). No-op on SQLite."""
    if not _postgres():
        return
    with connection.cursor() as cursor:
        if only_if_missing:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table.name])
            row = cursor.fetchone()
            if row is None or row[0] >= 0:
                return
        cursor.execute(f"ANALYZE {q(table.name)}")


def estimated_rows(table: Table) -> int:
    """The row count the planner's statistics give ``table`` (PostgreSQL; 0 never analyzed,
    and on SQLite, which keeps none here)."""
    if not _postgres():
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table.name])
        row = cursor.fetchone()
    return max(int(row[0]), 0) if row else 0


class Growth:
    """Statistics kept in step with a table a run keeps inserting into. A table analyzed at 50
    rows and grown to 150,000 within one run leads the planner to look a staged batch's keys up
    by the wrong index (measured: 363 rows/s); ANALYZE each time the rows inserted since the
    last one reach the rows it counted (and at least ``MINIMUM``): a few times per run, each a
    sample of at most 30,000 rows. Inside the batch's transaction ANALYZE counts its rows."""

    MINIMUM = 10_000

    def __init__(self, table: Table):
        self.table = table
        self.analyzed = estimated_rows(table)
        self.inserted = 0

    def inserted_rows(self, count: int) -> None:
        self.inserted += count
        if _postgres() and self.inserted >= max(self.MINIMUM, self.analyzed):
            refresh_statistics(self.table)
            self.analyzed += self.inserted
            self.inserted = 0


def analyze_stage(table: Table) -> None:
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table.stage}")


def keyed_lookups(on: bool = True) -> None:
    """For the rest of the transaction, join a staged batch (a few thousand rows) to the stored
    rows by their unique index (a nested loop), never by scanning the stored table: during a
    first load its statistics say "empty" while it grows to millions of rows, and a hash join
    would then read the whole table for every batch. ``on=False`` gives the planner its choice
    back (the final anti-join over every row is better hashed)."""
    if _postgres():
        value = "off" if on else "DEFAULT"
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL enable_hashjoin = {value}")
            cursor.execute(f"SET LOCAL enable_mergejoin = {value}")
            cursor.execute(f"SET LOCAL enable_seqscan = {value}")
            # Disabled plans cost 1e10, which would trigger JIT compilation (~140 ms a query).
            cursor.execute(f"SET LOCAL jit = {value}")


class _ExactJSONEncoder(DjangoJSONEncoder):
    """Timestamps to the microsecond (DjangoJSONEncoder keeps milliseconds: a row put back
    from its image would not be the row it was)."""

    def default(self, o):
        if isinstance(o, dt.datetime):
            return o.isoformat()
        return super().default(o)


def snapshot(table: Table, ids: list[int]) -> list[dict]:
    """Every column of the rows with ``ids``, JSON-ready (prune archive, before-images)."""
    rows = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for row in table.model.objects.filter(id__in=chunk).values():
            rows.append(json.loads(json.dumps(row, cls=_ExactJSONEncoder)))
    return rows


def delete(table: Table, ids: list[int]) -> None:
    for start in range(0, len(ids), CHUNK):
        table.model.objects.filter(id__in=ids[start : start + CHUNK]).delete()


# --- reading for the export (export_json) -------------------------------------------------------


def _code_point(expression: str) -> str:
    """``expression`` compared and ordered by code point (PostgreSQL's "C" collation; SQLite's
    BINARY collation already is), so both databases write the same order."""
    return f'{expression} COLLATE "C"' if _postgres() else expression


def _keyset_pages(select: str, order: tuple[str, ...], columns, after, batch_size: int):
    """Rows of ``select`` in ``order`` (a unique key), ``batch_size`` at a time, each page
    starting after the previous page's last key: memory stays flat however many rows there are,
    and no server-side cursor is needed (a transaction-mode pooler cannot keep one)."""
    keys = [_code_point(expression) for expression in order]
    last = None
    with connection.cursor() as cursor:
        while True:
            where, params = after(keys, last)
            cursor.execute(
                f"{select} {where} ORDER BY {', '.join(keys)} LIMIT {int(batch_size)}", params
            )
            rows = cursor.fetchall()
            for values in rows:
                yield {
                    # ``own_<column>`` is a status column read beside its model's (see below).
                    c: python_value(c.removeprefix(OWN_STATUS_PREFIX), v)
                    for c, v in zip(columns, values, strict=True)
                }
            if len(rows) < batch_size:
                return
            last = rows[-1]


def _after_slug(keys, last):
    if last is None:
        return "", []
    return f"WHERE {keys[0]} > %s", [last[0]]


def exported_providers(batch_size: int = CHUNK):
    """Every provider row (its columns), by slug in code point order."""
    columns = PROVIDER_COLUMNS
    select = f"SELECT {', '.join(q(c) for c in columns)} FROM {q(PROVIDERS.name)}"
    return _keyset_pages(select, (q("slug"),), columns, _after_slug, batch_size)


OWN_STATUS_PREFIX = "own_"


def exported_models(batch_size: int = CHUNK):
    """Every model row with its provider's ``provider_slug``, ``provider_name`` and
    ``provider_website_url``, and its own status (the one that came from models.json, origin
    ``models_file``) as ``own_<column>`` (all None when it has none), by slug in code point
    order."""
    own = [c for c in STATUS_COLUMNS if c != "origin"]
    columns = (
        *MODEL_COLUMNS,
        "provider_slug",
        "provider_name",
        "provider_website_url",
        *(OWN_STATUS_PREFIX + c for c in own),
    )
    select = (
        f"SELECT {', '.join(f'm.{q(c)}' for c in MODEL_COLUMNS)}, p.{q('slug')}, "
        f"p.{q('name')}, p.{q('website_url')}, {', '.join(f's.{q(c)}' for c in own)} "
        f"FROM {q(MODELS.name)} AS m "
        f"JOIN {q(PROVIDERS.name)} AS p ON p.id = m.{q('provider_id')} "
        f"LEFT JOIN {q(STATUSES.name)} AS s ON s.{q('model_id')} = m.id "
        f"AND s.{q('origin')} = '{StatusOrigin.MODELS_FILE}'"
    )
    return _keyset_pages(select, (f"m.{q('slug')}",), columns, _after_slug, batch_size)


def exported_statuses(batch_size: int = CHUNK):
    """Every status row with its model's ``model_slug``, by model slug then region, both in
    code point order."""
    columns = ("model_slug", *STATUS_COLUMNS)
    select = (
        f"SELECT m.{q('slug')}, {', '.join(f's.{q(c)}' for c in STATUS_COLUMNS)} "
        f"FROM {q(STATUSES.name)} AS s JOIN {q(MODELS.name)} AS m ON m.id = s.{q('model_id')}"
    )
    region_at = 1 + STATUS_COLUMNS.index("region")

    def after(keys, last):
        if last is None:
            return "", []
        slug, region = last[0], last[region_at]
        # The first term alone lets the planner start the models' index scan at the last slug.
        return (
            f"WHERE {keys[0]} >= %s AND ({keys[0]} > %s OR {keys[1]} > %s)",
            [slug, slug, region],
        )

    return _keyset_pages(select, (f"m.{q('slug')}", f"s.{q('region')}"), columns, after, batch_size)


def export_figures() -> dict:
    """What the export's envelope can honestly say about the stored rows: counts, the mean
    availability over all statuses, the latest ``checked_at``, and per provider its models."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN is_active THEN 1 ELSE 0 END), 0) "
            f"FROM {q(MODELS.name)}"
        )
        models, active = cursor.fetchone()
        cursor.execute(f"SELECT COUNT(*) FROM {q(PROVIDERS.name)}")
        (providers,) = cursor.fetchone()
        cursor.execute(
            f"SELECT COUNT(*), AVG(availability), MAX(checked_at) FROM {q(STATUSES.name)}"
        )
        statuses, availability, checked_at = cursor.fetchone()
        slug = _code_point(f"p.{q('slug')}")
        cursor.execute(
            f"SELECT p.{q('slug')}, p.{q('name')}, p.{q('website_url')}, COUNT(m.id) "
            f"FROM {q(PROVIDERS.name)} AS p LEFT JOIN {q(MODELS.name)} AS m "
            f"ON m.{q('provider_id')} = p.id GROUP BY p.id, p.{q('slug')}, p.{q('name')}, "
            f"p.{q('website_url')} ORDER BY {slug}"
        )
        per_provider = cursor.fetchall()
    return {
        "models": int(models),
        "active_models": int(active),
        "providers": int(providers),
        "statuses": int(statuses),
        "avg_availability": None if availability is None else float(availability),
        "last_checked_at": python_value("checked_at", checked_at),
        "per_provider": per_provider,
    }


# --- a first load: straight into an empty table, its secondary indexes built once at the end ----


def is_empty(table: Table) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {q(table.name)} LIMIT 1")
        return cursor.fetchone() is None


def drop_secondary_indexes(table: Table) -> list[str]:
    """Drop the table's indexes and constraints other than its primary key and checks (its
    secondary indexes, unique constraints and foreign keys: what a bulk load would maintain row
    by row); the statements that build them again, as they were and in the order they were
    first built (the planner breaks ties between indexes by that order), for :func:`build`.
    Call inside a transaction: a failed or killed load rolls the drop back, the table keeps its
    indexes. PostgreSQL locks the table (ACCESS EXCLUSIVE) until the transaction ends; SQLite's
    unique constraints (declared in the table) and foreign keys stay."""
    name = q(table.name)
    rebuild = []  # (creation order, statement)
    with connection.cursor() as cursor:
        if _postgres():
            cursor.execute(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE")
            # Within a longer transaction (--atomic, --dry-run), rows written before have
            # deferred checks pending, which ALTER TABLE refuses to run beside: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            # Foreign keys (no index of their own) after every index.
            cursor.execute(
                "SELECT CASE WHEN contype = 'u' THEN conindid::bigint ELSE 2^62 + oid::bigint "
                "END, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype IN ('u', 'f')",
                [table.name],
            )
            constraints = cursor.fetchall()
            cursor.execute(
                "SELECT i.indexrelid::bigint, c.relname, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint AS k WHERE k.conindid = i.indexrelid)",
                [table.name],
            )
            indexes = cursor.fetchall()
            for order, constraint, definition in constraints:
                cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {q(constraint)}")
                statement = f"ALTER TABLE {name} ADD CONSTRAINT {q(constraint)} {definition}"
                rebuild.append((order, statement))
        else:
            cursor.execute(
                "SELECT rowid, name, sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = %s AND sql IS NOT NULL",
                [table.name],
            )
            indexes = cursor.fetchall()
        for order, index, definition in indexes:
            cursor.execute(f"DROP INDEX {q(index)}")
            rebuild.append((order, definition))
    return [statement for _, statement in sorted(rebuild)]


def build(statements: list[str]) -> None:
    """Build the indexes and constraints :func:`drop_secondary_indexes` dropped."""
    with connection.cursor() as cursor:
        if _postgres():
            # Each build sorts the whole table: give it room to do so in memory.
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for statement in statements:
            cursor.execute(statement)


def copy_new(table: Table, rows: list[list], parent_ids: dict[str, int], now: dt.datetime):
    """Write ``rows`` (``[pos, parent slug, *ready values]``, each with a known parent) straight
    into the table as new rows (``COPY`` on PostgreSQL, ``executemany`` on SQLite)."""
    names = (table.parent_column, *table.columns, "source_hash", "created_at", "updated_at")
    stamp = now.isoformat() if _postgres() else _sqlite_datetime(now)
    with connection.cursor() as cursor:
        if _postgres():
            sql = f"COPY {q(table.name)} ({', '.join(q(n) for n in names)}) FROM STDIN"
            with cursor.copy(sql) as copy:
                write_row = copy.write_row
                for row in rows:
                    write_row((parent_ids[row[1]], *row[2:], "", stamp, stamp))
        else:
            placeholders = ", ".join(["%s"] * len(names))
            cursor.executemany(
                f"INSERT INTO {q(table.name)} ({', '.join(q(n) for n in names)}) "
                f"VALUES ({placeholders})",
                [(parent_ids[row[1]], *row[2:], "", stamp, stamp) for row in rows],
            )


def id_ranges(table: Table) -> tuple[list[list[int]], int]:
    """``([[first, last], ...], count)`` of every id in the table (one range when the ids are
    consecutive, as a first load's are)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(id), MAX(id), COUNT(*) FROM {q(table.name)}")
        first, last, rows = cursor.fetchone()
        if not rows:
            return [], 0
        if last - first + 1 == rows:
            return [[first, last]], rows
        cursor.execute(
            f"SELECT MIN(id), MAX(id) FROM (SELECT id, id - ROW_NUMBER() OVER (ORDER BY id) "
            f"AS island FROM {q(table.name)}) AS ids GROUP BY island ORDER BY 1"
        )
        return [list(pair) for pair in cursor.fetchall()], rows
