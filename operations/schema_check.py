"""check_schema's work: compare the live database with what its migrations produce.

The expected schema is built for real: the migrations the live database has applied are run
into a scratch database (SQLite: a temporary file; PostgreSQL: a temporary schema in the same
database, so no CREATEDB right is needed), and both are read with the same introspection. So
both sides are spelled by the same database server, whatever the vendor's quirks.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from operations.models import SchemaCheck


class SchemaCheckError(Exception):
    """The check itself could not run (an unsupported database, no right to create a schema)."""


@dataclasses.dataclass(frozen=True)
class Column:
    type: str
    nullable: bool


_CASTS = re.compile(
    r"::(?:character varying|timestamp with time zone|double precision|\w+)(?:\[\])?"
)
_PARENTHESES = re.compile(r"[()]")


@dataclasses.dataclass(frozen=True)
class Constraint:
    kind: str  # primary key, unique, foreign key, check, index
    columns: tuple[str, ...]
    target: str = ""  # a foreign key's table.column
    definition: str = dataclasses.field(default="", compare=False)  # as the server spells it
    shape: str = ""  # the definition without casts and parentheses: what is compared

    @staticmethod
    def shape_of(definition: str) -> str:
        """The server re-spells the same expression after a dump and restore (``ANY (ARRAY[
        'a'::character varying, ...]::text[])`` comes back as ``ANY (ARRAY[('a'::character
        varying)::text, ...])``): casts and parentheses are left out of the comparison."""
        return " ".join(_PARENTHESES.sub("", _CASTS.sub("", definition)).split())

    def describe(self) -> str:
        text = f"{self.kind} ({', '.join(self.columns)})"
        if self.target:
            text += f" -> {self.target}"
        return f"{text}: {self.definition}" if self.definition else text


@dataclasses.dataclass
class Table:
    columns: dict[str, Column]
    constraints: dict[str, Constraint]


@dataclasses.dataclass
class Result:
    differences: list[str]
    pending: list[str]
    tables: int
    columns: int
    constraints: int

    @property
    def matches(self) -> bool:
        return not self.differences


# --- reading a schema ---------------------------------------------------------------------------

_QUALIFIED_TABLE = re.compile(r' ON (ONLY )?("?[\w$]+"?)\.')


def _columns(connection, cursor, table: str) -> dict[str, Column]:
    if connection.vendor == "postgresql":
        cursor.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull "
            "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 "
            "AND NOT a.attisdropped",
            [connection.ops.quote_name(table)],
        )
        return {name: Column(kind, nullable) for name, kind, nullable in cursor.fetchall()}
    cursor.execute(f"PRAGMA table_info({connection.ops.quote_name(table)})")
    return {row[1]: Column(row[2].lower(), not row[3]) for row in cursor.fetchall()}


def _definitions(connection, cursor, table: str) -> dict[str, str]:
    """PostgreSQL's own text of each constraint and index (schema names taken out)."""
    if connection.vendor != "postgresql":
        return {}
    quoted = connection.ops.quote_name(table)
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
        "%s::regclass",
        [quoted],
    )
    found = dict(cursor.fetchall())
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
        [quoted],
    )
    for name, definition in cursor.fetchall():
        found.setdefault(
            name, _QUALIFIED_TABLE.sub(lambda m: f" ON {m.group(1) or ''}", definition)
        )
    return found


def _kind(info: dict) -> str:
    if info["primary_key"]:
        return "primary key"
    if info["foreign_key"]:
        return "foreign key"
    if info["check"]:
        return "check"
    if info["index"]:
        return "unique index" if info["unique"] else "index"
    return "unique" if info["unique"] else "constraint"


def read_schema(connection, *, only: set[str] | None = None) -> dict[str, Table]:
    """Every table of ``connection`` (or those in ``only``): columns, constraints, indexes."""
    schema = {}
    with connection.cursor() as cursor:
        names = [
            info.name
            for info in connection.introspection.get_table_list(cursor)
            if info.type == "t" and (only is None or info.name in only)
        ]
        for table in names:
            definitions = _definitions(connection, cursor, table)
            constraints = {}
            for name, info in connection.introspection.get_constraints(cursor, table).items():
                target = ".".join(info["foreign_key"]) if info["foreign_key"] else ""
                constraints[name] = Constraint(
                    kind=_kind(info),
                    columns=tuple(info["columns"] or ()),
                    target=target,
                    definition=definitions.get(name, ""),
                    shape=Constraint.shape_of(definitions.get(name, "")),
                )
            schema[table] = Table(_columns(connection, cursor, table), constraints)
    return schema


# --- the expected schema ------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_connection(live):
    """A connection to an empty database of the live one's kind, removed afterwards."""
    settings = copy.deepcopy(live.settings_dict)
    alias = f"check_schema_{uuid.uuid4().hex[:12]}"
    cleanup = None
    if live.vendor == "sqlite":
        folder = tempfile.mkdtemp(prefix="check_schema_")
        settings["NAME"] = str(Path(folder) / "expected.sqlite3")

        def cleanup():
            shutil.rmtree(folder, ignore_errors=True)

    elif live.vendor == "postgresql":
        try:
            with live.cursor() as cursor:
                cursor.execute(f"CREATE SCHEMA {live.ops.quote_name(alias)}")
        except Exception as exc:
            raise SchemaCheckError(
                f"cannot create a scratch schema to build the expected schema in: {exc}"
            ) from exc
        options = dict(settings.get("OPTIONS") or {})
        options.pop("pool", None)
        # public after the scratch schema: extensions live there (pg_trgm's operator classes,
        # which the catalog's trigram indexes name); every table is built in the scratch one.
        search_path = f"-c search_path={alias},public"
        options["options"] = f"{options.get('options', '')} {search_path}".strip()
        settings.update(OPTIONS=options, CONN_MAX_AGE=0)

        def cleanup():
            with live.cursor() as cursor:
                cursor.execute(f"DROP SCHEMA IF EXISTS {live.ops.quote_name(alias)} CASCADE")

    else:
        raise SchemaCheckError(f"check_schema knows SQLite and PostgreSQL, not {live.vendor}")
    connections.settings[alias] = settings
    try:
        yield connections[alias]
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]
        cleanup()


def applied_and_pending(connection) -> tuple[list[tuple[str, str]], list[str]]:
    """The migrations the database has applied (that still exist), and those it has not."""
    loader = MigrationLoader(connection)
    nodes = set(loader.graph.nodes)
    applied = sorted(key for key in loader.applied_migrations if key in nodes)
    pending = sorted(f"{app}.{name}" for app, name in nodes - set(loader.applied_migrations))
    return applied, pending


def expected_schema(live, applied, *, only=None) -> dict[str, Table]:
    """What the migrations ``applied`` produce, read from a scratch database."""
    with scratch_connection(live) as scratch:
        executor = MigrationExecutor(scratch)
        graph = executor.loader.graph
        # Every applied migration with its dependencies, each once, dependencies first (Django's
        # own planner would read several targets in one app as "migrate back to this one").
        plan, seen = [], set()
        for target in applied:
            for key in graph.forwards_plan(target):
                if key not in seen:
                    seen.add(key)
                    plan.append((graph.nodes[key], False))
        if plan:
            executor.migrate([], plan=plan)
        schema = read_schema(scratch, only=only)
    return schema


# --- the comparison -----------------------------------------------------------------------------


def _ours(table: str) -> bool:
    """Tables of the installed apps (and Django's own): others may share the database."""
    prefixes = [f"{config.label}_" for config in apps.get_app_configs()] + ["django_"]
    return table.startswith(tuple(prefixes))


def compare(expected: dict[str, Table], live: dict[str, Table]) -> list[str]:
    """Each difference between the two schemas, named; empty when they match."""
    found = []
    for table in sorted(set(expected) | {name for name in live if _ours(name)}):
        if table not in live:
            found.append(f"table {table}: missing (the migrations create it)")
            continue
        if table not in expected:
            found.append(f"table {table}: not created by any applied migration")
            continue
        want, have = expected[table], live[table]
        for name in sorted(set(want.columns) | set(have.columns)):
            a, b = want.columns.get(name), have.columns.get(name)
            if b is None:
                found.append(f"column {table}.{name}: missing")
            elif a is None:
                found.append(f"column {table}.{name}: not in the migrations ({b.type})")
            elif a.type != b.type:
                found.append(f"column {table}.{name}: type {b.type}, the migrations give {a.type}")
            elif a.nullable != b.nullable:
                want_null = "NULL" if a.nullable else "NOT NULL"
                have_null = "NULL" if b.nullable else "NOT NULL"
                found.append(f"column {table}.{name}: {have_null}, the migrations give {want_null}")
        for name in sorted(set(want.constraints) | set(have.constraints)):
            a, b = want.constraints.get(name), have.constraints.get(name)
            if b is None:
                found.append(f"{a.kind} {name} on {table}: missing ({a.describe()})")
            elif a is None:
                found.append(f"{b.kind} {name} on {table}: not in the migrations ({b.describe()})")
            elif a != b:
                found.append(
                    f"{a.kind} {name} on {table}: {b.describe()}, the migrations give "
                    f"{a.describe()}"
                )
    return found


def check_schema(*, using: str = DEFAULT_DB_ALIAS, actor: str = "") -> Result:
    """Compare the database ``using`` with what its applied migrations produce; record it."""
    live = connections[using]
    applied, pending = applied_and_pending(live)
    expected = expected_schema(live, applied)
    actual = read_schema(live)
    differences = compare(expected, actual)
    result = Result(
        differences=differences,
        pending=pending,
        tables=len(expected),
        columns=sum(len(t.columns) for t in expected.values()),
        constraints=sum(len(t.constraints) for t in expected.values()),
    )
    if SchemaCheck._meta.db_table in actual:
        SchemaCheck.objects.using(using).create(
            actor=actor, matches=result.matches, differences=differences, pending=pending
        )
    return result
