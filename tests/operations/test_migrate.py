"""`migrate`, logged: every run in the migration log, a failure recorded as failed, and a
database that cannot be reached in one line."""

import sqlite3

import pytest

from operations.models import MigrationRun
from tests.conftest import IS_POSTGRES, ROOT, manage

pytestmark = pytest.mark.django_db


def test_migrate_to_zero_and_back__each_run_in_the_log(scratch_database):
    url = scratch_database()
    for args in (["migrate"], ["migrate", "catalog", "zero"], ["migrate"]):
        result = manage(*args, "--noinput", "-v", "0", database_url=url)
        assert result.returncode == 0, result.stderr
    log = manage("migration_log", "--last", "3", database_url=url)
    runs = log.stdout.split("\n#")
    assert len(runs) == 3
    latest, zero, first = runs
    assert "succeeded" in latest.splitlines()[0]
    catalog_migrations = len(list((ROOT / "catalog" / "migrations").glob("0*.py")))
    assert "  apply   catalog.0001_initial " in latest
    assert latest.count("\n  apply") == catalog_migrations  # catalog's, and nothing else
    assert "  unapply catalog.0001_initial " in zero
    assert "  apply   operations.0001_initial " in first
    assert "  apply   migrator.0005_backfill_run_process " in first


def test_failed_migration__recorded_as_failed_and_said_in_one_line(scratch_database):
    url = scratch_database()
    assert manage("migrate", "operations", "-v", "0", database_url=url).returncode == 0
    create = "CREATE TABLE catalog_provider (id integer)"  # in the way of catalog.0001
    if IS_POSTGRES:
        import psycopg

        with psycopg.connect(url) as conn:
            conn.execute(create)
    else:
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(create)
    result = manage("migrate", "--noinput", "-v", "0", database_url=url)
    assert result.returncode == 1
    message = result.stderr.strip()
    assert message.startswith("CommandError: migration catalog.0001_initial failed (apply): ")
    assert 'catalog_provider" already exists' in message
    assert message.endswith("the migrations before it stay applied (migration run #2 in the log).")
    assert "Traceback" not in result.stderr
    log = manage("migration_log", "--last", "1", database_url=url).stdout
    assert log.startswith("#2 ") and " failed by " in log.splitlines()[0]
    assert "  apply   catalog.0001_initial" in log and "failed" in log.splitlines()[-2]
    assert "  error: catalog.0001_initial (apply): " in log


def test_database_that_does_not_exist__one_line(tmp_path):
    if IS_POSTGRES:
        from tests.conftest import _postgres_url

        url = _postgres_url("no_such_database_wt14")
        expected = (
            'database "no_such_database_wt14" does not exist. Create it first (e.g. '
            "`createdb no_such_database_wt14`, or in your host's dashboard), or fix DATABASE_URL"
        )
    else:
        url = f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}"
        expected = (
            "unable to open database file. The directory of the SQLite file in DATABASE_URL "
            "must exist and be writable."
        )
    result = manage("migrate", database_url=url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("CommandError: database error: ")
    assert expected in lines[0]


def test_admin__shows_the_log_read_only(admin_client_logged_in):
    run = MigrationRun.objects.create(
        started_at="2026-11-22T10:00:00Z",
        finished_at="2026-11-22T10:00:01Z",
        outcome="failed",
        steps=[
            {
                "migration": "catalog.0001_initial",
                "direction": "apply",
                "seconds": 0.1,
                "outcome": "done",
                "fake": False,
            },
            {
                "migration": "catalog.0002_x",
                "direction": "apply",
                "seconds": 0.1,
                "outcome": "failed",
                "fake": False,
            },
        ],
        error="catalog.0002_x (apply): ProgrammingError: boom",
    )
    listing = admin_client_logged_in.get("/admin/operations/migrationrun/").content.decode()
    assert "1 applied, 0 unapplied; FAILED: catalog.0002_x" in listing
    page = admin_client_logged_in.get(f"/admin/operations/migrationrun/{run.pk}/change/")
    assert page.status_code == 200 and "ProgrammingError: boom" in page.content.decode()
    assert admin_client_logged_in.get("/admin/operations/migrationrun/add/").status_code == 403
