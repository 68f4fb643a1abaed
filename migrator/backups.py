"""backup_db and restore_db: a restorable snapshot of a database, and bringing it back.

Three kinds of snapshot, told apart by their first bytes when restored:

- ``pg_dump``: PostgreSQL's custom format (``pg_dump -Fc``), when the client tools are installed;
  restored with ``pg_restore --clean --if-exists`` into a PostgreSQL database.
- ``sqlite``: a SQLite file written with SQLite's online backup API (``Connection.backup``: a
  consistent copy while others read and write); restored page for page into a SQLite database.
- ``logical``: without the client tools, a SQLite file that copy_database fills from the
  database (the catalog and the migrator's records, migrations applied). Any SQLite snapshot can
  also be restored into PostgreSQL this way (migrate, then copy).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connections

from catalog.models import Model, ModelStatus, Provider
from migrator import databases
from migrator.errors import MigratorError, first_line

PG_DUMP_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"
METHODS = ("auto", "pg_dump", "sqlite", "logical")


@dataclasses.dataclass
class Backup:
    path: Path
    method: str
    size: int
    seconds: float
    rows: dict[str, int]

    def as_dict(self) -> dict:
        return {
            "path": str(self.path),
            "method": self.method,
            "size": self.size,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
        }


def default_path(alias: str) -> Path:
    """``<BACKUP_DIR>/<database name>-<UTC time>.<ext>`` (BACKUP_DIR: var/backups)."""
    name = Path(str(connections[alias].settings_dict["NAME"])).stem or "database"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    ext = "sqlite3" if connections[alias].vendor == "sqlite" else "dump"
    return Path(settings.BACKUP_DIR) / f"{name}-{stamp}.{ext}"


def catalog_rows(alias: str) -> dict[str, int]:
    """Rows per catalog table (what a backup holds, and what "non-empty" means for a restore)."""
    return {
        "providers": Provider.objects.using(alias).count(),
        "models": Model.objects.using(alias).count(),
        "statuses": ModelStatus.objects.using(alias).count(),
    }


def pg_tools_available() -> bool:
    return bool(shutil.which("pg_dump") and shutil.which("pg_restore"))


def backup_database(alias: str, path: Path | None = None, *, method: str = "auto") -> Backup:
    """Write a snapshot of the database ``alias`` to ``path``; refuse to overwrite a file."""
    vendor = connections[alias].vendor
    path = Path(path) if path else default_path(alias)
    if path.exists():
        raise MigratorError(f"{path} exists already: name a new file (a backup never overwrites)")
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    if method == "auto":
        if vendor == "sqlite":
            method = "sqlite"
        else:
            method = "pg_dump" if pg_tools_available() else "logical"
    if method == "sqlite" and vendor != "sqlite":
        raise MigratorError("--method sqlite backs up a SQLite database; this one is PostgreSQL")
    if method == "pg_dump" and vendor != "postgresql":
        raise MigratorError("--method pg_dump backs up a PostgreSQL database; this one is SQLite")
    started = time.perf_counter()
    rows = catalog_rows(alias)
    try:
        {"sqlite": _sqlite_backup, "pg_dump": _pg_dump, "logical": _logical_backup}[method](
            alias, path
        )
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return Backup(path, method, path.stat().st_size, time.perf_counter() - started, rows)


def _sqlite_backup(alias: str, path: Path) -> None:
    connection = connections[alias]
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        connection.connection.backup(target)
    finally:
        target.close()


def _pg_command(alias: str, program: str, *args: str) -> None:
    params = connections[alias].settings_dict
    env = {**os.environ}
    if params.get("PASSWORD"):
        env["PGPASSWORD"] = params["PASSWORD"]
    options = params.get("OPTIONS", {})
    if options.get("sslmode"):
        env["PGSSLMODE"] = options["sslmode"]
    command = [program, "--no-password"]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if params.get(key):
            command += [flag, str(params[key])]
    command += [*args, "--dbname", str(params["NAME"])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        error = first_line(done.stderr.strip() or f"exit status {done.returncode}")
        raise MigratorError(f"{program} failed: {error}")


def _pg_dump(alias: str, path: Path) -> None:
    if not pg_tools_available():
        raise MigratorError(
            "pg_dump is not installed: install PostgreSQL's client tools (see the README, "
            "'Backups'), or use --method logical"
        )
    _pg_command(alias, "pg_dump", "--format=custom", "--no-owner", "--file", str(path))


def _logical_backup(alias: str, path: Path) -> None:
    from migrator.database_copy import database_copy

    with databases.opened(f"sqlite:///{path}", role="snapshot") as snapshot:
        database_copy(source=alias, target=snapshot)


def snapshot_kind(path: Path) -> str:
    """``pg_dump`` or ``sqlite`` (a logical snapshot is a SQLite file), from the first bytes."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise MigratorError(f"{path}: cannot read the snapshot: {exc.strerror or exc}") from exc
    if head.startswith(PG_DUMP_MAGIC):
        return "pg_dump"
    if head == SQLITE_MAGIC:
        return "sqlite"
    raise MigratorError(
        f"{path} is not a snapshot backup_db writes (neither pg_dump's custom format nor SQLite)"
    )


def holds_data(alias: str) -> bool:
    """True when the catalog tables exist and hold a row (an empty or unmigrated one: False)."""
    tables = set(connections[alias].introspection.table_names())
    if Provider._meta.db_table not in tables:
        return False
    return any(catalog_rows(alias).values())


@dataclasses.dataclass
class Restore:
    path: Path
    kind: str
    seconds: float
    rows: dict[str, int]

    def as_dict(self) -> dict:
        return {
            "path": str(self.path),
            "kind": self.kind,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
        }


def restore_database(alias: str, path: Path, *, force: bool = False) -> Restore:
    """Bring the snapshot at ``path`` back into ``alias``; refuse a non-empty one unless
    ``force``."""
    path = Path(path)
    kind = snapshot_kind(path)
    vendor = connections[alias].vendor
    if kind == "pg_dump" and vendor != "postgresql":
        raise MigratorError(f"{path} is a pg_dump snapshot: restore it into a PostgreSQL database")
    if holds_data(alias) and not force:
        rows = catalog_rows(alias)
        raise MigratorError(
            "the database is not empty ("
            + ", ".join(f"{n} {name}" for name, n in rows.items())
            + "): restore_db would replace it. Take a backup of it first (backup_db), then run "
            "restore_db again with --force"
        )
    started = time.perf_counter()
    if kind == "pg_dump":
        if not pg_tools_available():
            raise MigratorError("pg_restore is not installed: install PostgreSQL's client tools")
        connections[alias].close()
        _pg_command(alias, "pg_restore", "--clean", "--if-exists", "--no-owner", str(path))
    elif vendor == "sqlite":
        connection = connections[alias]
        connection.ensure_connection()
        snapshot = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            snapshot.backup(connection.connection)
        finally:
            snapshot.close()
    else:
        from migrator.database_copy import copied_tables_clear, database_copy

        with databases.opened(f"sqlite:///{path}", role="snapshot") as snapshot:
            call_command("migrate", database=alias, interactive=False, verbosity=0)
            copied_tables_clear(alias)
            database_copy(source=snapshot, target=alias, migrate=False)
    return Restore(path, kind, time.perf_counter() - started, catalog_rows(alias))
