"""backup_db and restore_db (migrator/backups.py): snapshot -> destroy rows -> restore ->
validate_migration passes, on both databases and with each kind of snapshot."""

import json
import sqlite3

import pytest

from tests.conftest import SAMPLE_DIR, count_rows, manage
from tests.migrator.conftest import loaded_database


def run(url, *args, **kwargs):
    return manage(*args, database_url=url, **kwargs)


def destroy_rows(url: str) -> None:
    """Delete a provider's statuses and models, and change a status, behind the app's back."""
    statements = [
        "DELETE FROM catalog_modelstatus WHERE model_id IN (SELECT id FROM catalog_model WHERE "
        "provider_id = (SELECT id FROM catalog_provider WHERE slug = 'openai'))",
        "DELETE FROM catalog_model WHERE provider_id = (SELECT id FROM catalog_provider WHERE "
        "slug = 'openai')",
        "UPDATE catalog_modelstatus SET availability = 1",
    ]
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            for sql in statements:
                conn.execute(sql)
        return
    import psycopg

    with psycopg.connect(url) as conn:
        for sql in statements:
            conn.execute(sql)


def validates(url) -> bool:
    return run(url, "validate_migration", str(SAMPLE_DIR)).returncode == 0


def backup(url, path, *args, **kwargs) -> dict:
    done = run(url, "backup_db", str(path), "--format", "json", *args, **kwargs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def destroy_then_restore(url, path):
    statuses = count_rows(url, "catalog_modelstatus")
    destroy_rows(url)
    assert not validates(url)
    refused = run(url, "restore_db", str(path))
    assert refused.returncode == 2
    assert "the database is not empty" in refused.stderr and "--force" in refused.stderr
    done = run(url, "restore_db", str(path), "--force", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"]["statuses"] == statuses
    assert count_rows(url, "catalog_modelstatus") == statuses
    assert validates(url)


def test_sqlite__online_backup_destroy_restore_validates(tmp_path):
    url = loaded_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    document = backup(url, tmp_path / "snap.sqlite3")
    assert document["method"] == "sqlite"
    assert document["rows"] == {"providers": 10, "models": 39, "statuses": 58}
    destroy_then_restore(url, tmp_path / "snap.sqlite3")


def test_sqlite__logical_snapshot_restores_too(tmp_path):
    url = loaded_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert backup(url, tmp_path / "snap.logical", "--method", "logical")["method"] == "logical"
    destroy_then_restore(url, tmp_path / "snap.logical")


def test_a_backup_never_overwrites_a_file(tmp_path):
    url = loaded_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    existing = tmp_path / "taken.sqlite3"
    existing.write_text("keep me")
    done = run(url, "backup_db", str(existing))
    assert done.returncode == 2 and "exists already" in done.stderr
    assert existing.read_text() == "keep me"


def test_restore_of_a_file_that_is_no_snapshot__exit_2_saying_so(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a backup")
    done = run(url, "restore_db", str(bogus))
    assert done.returncode == 2
    assert "is not a snapshot backup_db writes" in done.stderr


def test_restore_into_an_empty_database__no_force_needed(tmp_path):
    url = loaded_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    backup(url, tmp_path / "snap.sqlite3")
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert run(empty, "restore_db", str(tmp_path / "snap.sqlite3")).returncode == 0
    assert validates(empty)


@pytest.mark.postgres
def test_postgresql__pg_dump_destroy_restore_validates(h12b_postgres, tmp_path):
    url = loaded_database(h12b_postgres())
    assert backup(url, tmp_path / "snap.dump")["method"] == "pg_dump"
    assert (tmp_path / "snap.dump").read_bytes()[:5] == b"PGDMP"
    destroy_then_restore(url, tmp_path / "snap.dump")
    # The server spells some constraints differently after pg_restore: still the same schema,
    # so the release step's check_schema lets the next deploy through.
    checked = run(url, "check_schema")
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.postgres
def test_postgresql__without_the_client_tools_a_logical_snapshot(h12b_postgres, tmp_path):
    url = loaded_database(h12b_postgres())
    # No pg_dump on PATH: the fallback (python itself is called by its full path).
    document = backup(url, tmp_path / "snap.logical", env={"PATH": str(tmp_path)})
    assert document["method"] == "logical"
    destroy_then_restore(url, tmp_path / "snap.logical")
    # The same snapshot brings a fresh PostgreSQL database and a fresh SQLite file up to it.
    for fresh in (h12b_postgres(), f"sqlite:///{tmp_path / 'fresh.sqlite3'}"):
        assert run(fresh, "restore_db", str(tmp_path / "snap.logical")).returncode == 0
        assert validates(fresh)


@pytest.mark.postgres
def test_a_pg_dump_snapshot_into_sqlite__refused(h12b_postgres, tmp_path):
    url = loaded_database(h12b_postgres())
    backup(url, tmp_path / "snap.dump")
    done = run(f"sqlite:///{tmp_path / 'x.sqlite3'}", "restore_db", str(tmp_path / "snap.dump"))
    assert done.returncode == 2 and "restore it into a PostgreSQL database" in done.stderr


def test_when_enabled__a_backup_only_while_the_switch_is_on(tmp_path):
    url = loaded_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    folder = tmp_path / "backups"
    env = {"BACKUP_DIR": str(folder)}
    off = run(url, "backup_db", "--when-enabled", "sync", env=env)
    assert off.returncode == 0 and not folder.exists()
    on = run(url, "backup_db", "--when-enabled", "sync", env=env | {"BACKUP_BEFORE_SYNC": "true"})
    assert on.returncode == 0, on.stderr
    (snapshot,) = folder.iterdir()
    assert snapshot.name.startswith("db-") and snapshot.suffix == ".sqlite3"
    assert count_rows(f"sqlite:///{snapshot}", "catalog_modelstatus") == 58


def test_when_enabled_on_a_first_deploy__nothing_to_keep_and_the_release_goes_on(tmp_path):
    """The release step runs before migrate: on a new, empty database there is nothing to back
    up (and no table to read), so it says so and exits 0."""
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    folder = tmp_path / "backups"
    env = {"BACKUP_DIR": str(folder), "BACKUP_BEFORE_MIGRATE": "true"}
    first = run(url, "backup_db", "--when-enabled", "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "no backup: the database holds no catalog rows yet" in first.stdout
    assert not folder.exists()
