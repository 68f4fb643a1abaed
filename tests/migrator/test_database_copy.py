"""copy_database (migrator/database_copy.py): a used SQLite database copied whole — the catalog
and the migrator's records, ids kept — idempotent, then compared; and PostgreSQL -> SQLite."""

import json
from pathlib import Path

import pytest

from catalog.models import Model, ModelStatus, Provider
from migrator import databases
from migrator.models import AuditEntry, BackfillRun, PrunedRow, RejectedRecord
from tests.conftest import command, count_rows
from tests.migrator.conftest import loaded_database

pytestmark = pytest.mark.django_db


def copy(*args):
    code, out, err = command("copy_database", *args, "--format", "json")
    return code, (json.loads(out) if out.strip() else None), err


def copied_into_the_test_database(source_url, *args):
    """copy_database --from SOURCE into the configured database (the test database)."""
    return copy("--from", source_url, "--no-backup", *args)


def test_used_sqlite_database__copied_whole_and_equal(used_sqlite_database, sqlite_copy_of):
    source = sqlite_copy_of(used_sqlite_database)
    code, document, err = copied_into_the_test_database(source)
    assert code == 0, err
    tables = document["tables"]
    assert tables["providers"]["inserted"] == 10
    assert tables["statuses"]["inserted"] == count_rows(source, "catalog_modelstatus") == 59
    assert tables["backfill runs"]["inserted"] == 3
    assert tables["rejected records"]["inserted"] == 2  # the sample's two
    assert tables["pruned rows"]["inserted"] >= 1
    assert tables["audit entries"]["inserted"] == 2
    assert tables["backend state"]["inserted"] == 1
    assert document["comparison"]["passed"] is True
    # The API write and the admin edit made on SQLite are here, by natural key.
    api = ModelStatus.objects.get(model__slug="openai-o3", region="global")
    assert (api.status, api.availability) == ("degraded", 99.99)
    assert ModelStatus.objects.filter(model__slug="openai-o3", region="eu-west-1").exists()
    edited = ModelStatus.objects.get(model__slug="anthropic-claude-3-opus", region="global")
    assert (edited.status, edited.availability) == ("outage", 11.25)
    assert PrunedRow.objects.filter(natural_key__contains="titan-embeddings").exists()


def test_second_run__changes_nothing(used_sqlite_database, sqlite_copy_of):
    source = sqlite_copy_of(used_sqlite_database)
    copied_into_the_test_database(source)
    stamps = list(ModelStatus.objects.order_by("pk").values_list("pk", "updated_at"))
    code, document, _ = copied_into_the_test_database(source)
    assert code == 0
    total = document["total"]
    assert (total["inserted"], total["updated"], total["extra"]) == (0, 0, 0)
    assert total["unchanged"] == total["read"] > 100
    assert list(ModelStatus.objects.order_by("pk").values_list("pk", "updated_at")) == stamps


def test_ids_and_timestamps_kept__and_new_rows_get_new_ids(used_sqlite_database, sqlite_copy_of):
    source = sqlite_copy_of(used_sqlite_database)
    copied_into_the_test_database(source)
    with databases.opened(source, role="source") as alias:
        theirs = list(
            BackfillRun.objects.using(alias).order_by("pk").values_list("pk", "started_at")
        )
        statuses = list(
            ModelStatus.objects.using(alias)
            .order_by("pk")
            .values_list("pk", "model_id", "region", "created_at", "updated_at")
        )
    assert list(BackfillRun.objects.order_by("pk").values_list("pk", "started_at")) == theirs
    assert (
        list(
            ModelStatus.objects.order_by("pk").values_list(
                "pk", "model_id", "region", "created_at", "updated_at"
            )
        )
        == statuses
    )
    # Sequences moved past the copied ids: the next run and the next audit entry get new ones.
    run = BackfillRun.objects.create()
    assert run.pk > max(pk for pk, _ in theirs)
    entry = AuditEntry.objects.create(actor="t", action="a", reason="r")
    assert entry.pk > 2


def test_changed_and_extra_rows_in_the_target__updated_counted_and_deleted_on_request(
    used_sqlite_database, sqlite_copy_of
):
    source = sqlite_copy_of(used_sqlite_database)
    copied_into_the_test_database(source)
    ModelStatus.objects.filter(model__slug="openai-o3", region="global").update(availability=1)
    model = Model.objects.get(slug="openai-o3")
    ModelStatus.objects.create(model=model, region="mars-1")
    code, document, err = copied_into_the_test_database(source)
    assert code == 1  # the extra status is left alone, and the comparison names it
    assert document["tables"]["statuses"]["updated"] == 1
    assert document["tables"]["statuses"]["extra"] == 1
    assert "the two databases differ: 1 difference(s)" in err
    differences = document["comparison"]["differences"]
    assert [(d["kind"], d["key"]) for d in differences] == [("extra", "openai-o3@mars-1")]
    code, document, _ = copied_into_the_test_database(source, "--delete-extra")
    assert code == 0
    assert document["tables"]["statuses"]["deleted"] == 1
    assert not ModelStatus.objects.filter(region="mars-1").exists()
    assert ModelStatus.objects.get(model=model, region="global").availability == 99.99


def test_then_validate_against_the_source__0_and_1_naming_a_changed_row(
    used_sqlite_database, sqlite_copy_of
):
    source = sqlite_copy_of(used_sqlite_database)
    copied_into_the_test_database(source)
    assert command("validate_migration", "--against-database", source)[0] == 0
    Provider.objects.filter(slug="cohere").update(name="Cohere Inc.")
    code, out, _ = command("validate_migration", "--against-database", source)
    assert code == 1
    assert '~ providers cohere name: "Cohere" → "Cohere Inc."' in out


def test_admin_on_the_copy__shows_the_same_runs_rejects_and_audit_entries(
    used_sqlite_database, sqlite_copy_of, admin_client_logged_in
):
    source = sqlite_copy_of(used_sqlite_database)
    copied_into_the_test_database(source)
    with databases.opened(source, role="source") as alias:
        runs = list(BackfillRun.objects.using(alias).values_list("pk", flat=True))
        rejects = list(RejectedRecord.objects.using(alias).values_list("pk", "record_key"))
        audit = list(AuditEntry.objects.using(alias).values_list("pk", "action", "reason"))
    client = admin_client_logged_in
    page = client.get("/admin/migrator/backfillrun/").content.decode()
    for pk in runs:
        assert f"/admin/migrator/backfillrun/{pk}/change/" in page
        assert client.get(f"/admin/migrator/backfillrun/{pk}/change/").status_code == 200
    page = client.get("/admin/migrator/rejectedrecord/").content.decode()
    for pk, key in rejects:
        assert f"/admin/migrator/rejectedrecord/{pk}/change/" in page
        assert key in page
    page = client.get("/admin/migrator/auditentry/").content.decode()
    for pk, _action, reason in audit:
        assert f"/admin/migrator/auditentry/{pk}/change/" in page
        assert reason in page
    assert len(audit) == 2


def test_backup_of_the_source_first__unless_no_backup(
    used_sqlite_database, sqlite_copy_of, tmp_path
):
    source = sqlite_copy_of(used_sqlite_database)
    backup = tmp_path / "before-copy.sqlite3"
    code, document, _ = copy("--from", source, "--backup-file", str(backup))
    assert code == 0
    assert document["backup"]["method"] == "sqlite" and backup.stat().st_size > 0
    assert count_rows(f"sqlite:///{backup}", "catalog_modelstatus") == 59


def test_same_database_on_both_sides__refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.sqlite3'}"
    code, _, err = copy("--from", url, "--to", url, "--no-backup")
    assert code == 2 and "the same database" in err


@pytest.mark.postgres
def test_used_sqlite_into_an_empty_postgresql_database__then_validate(
    used_sqlite_database, sqlite_copy_of, h12b_postgres
):
    source, target = sqlite_copy_of(used_sqlite_database), h12b_postgres()
    code, document, _ = copy("--from", source, "--to", target, "--no-backup")
    assert code == 0 and document["comparison"]["passed"] is True
    assert count_rows(target, "catalog_modelstatus") == 59
    assert count_rows(target, "migrator_auditentry") == 2


@pytest.mark.postgres
def test_postgresql_into_sqlite__copied_and_equal(h12b_postgres, tmp_path):
    source = loaded_database(h12b_postgres())
    target = f"sqlite:///{tmp_path / 'from-postgres.sqlite3'}"
    code, document, _ = copy("--from", source, "--to", target, "--no-backup")
    assert code == 0, document
    assert document["tables"]["statuses"]["inserted"] == 58
    assert document["tables"]["rejected records"]["inserted"] == 2  # the sample's two
    assert document["comparison"]["passed"] is True
    code, document, _ = copy("--from", source, "--to", target, "--no-backup")
    assert (document["total"]["inserted"], document["total"]["updated"]) == (0, 0)
    # A row changed on the SQLite side: the comparison from PostgreSQL names it.
    import sqlite3

    with sqlite3.connect(target.removeprefix("sqlite:///")) as conn:
        conn.execute(
            "UPDATE catalog_modelstatus SET availability = 1 WHERE region = 'global' AND "
            "model_id = (SELECT id FROM catalog_model WHERE slug = 'openai-o3')"
        )
    from tests.conftest import manage

    done = manage("validate_migration", "--against-database", target, database_url=source)
    assert done.returncode == 1
    # other (SQLite) → this (PostgreSQL), as export → database in the export comparison
    assert "~ statuses openai-o3@global availability: 1.0 → 95.05" in done.stdout


def test_a_source_behind_the_schema__refused_naming_a_pending_migration(tmp_path):
    from tests.conftest import manage

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    assert manage("migrate", "-v", "0", database_url=url).returncode == 0
    migrations = Path(__file__).resolve().parents[2] / "migrator" / "migrations"
    names = sorted(p.stem for p in migrations.glob("0*.py"))
    previous, latest = names[-2], names[-1]
    assert manage("migrate", "migrator", previous, "-v", "0", database_url=url).returncode == 0
    code, _, err = copy("--from", url, "--no-backup")
    assert code == 2
    assert "the source database is behind this release's schema" in err
    assert f"(1 migration(s) not applied, e.g. migrator.{latest})" in err
