"""validate_migration --against-database (migrator/compare_databases.py): two databases compared
both ways, field by field, by natural key, streamed in key order."""

import json

import pytest
from django.db import connections

from catalog.models import Model, ModelStatus, Provider
from migrator import databases
from migrator.compare_databases import _merged, ordered_rows
from migrator.models import ValidationRun
from tests.conftest import command
from tests.migrator.conftest import loaded_database

pytestmark = pytest.mark.django_db


def against(url, *args):
    code, out, err = command("validate_migration", "--against-database", url, *args)
    return code, out, err


def report(url, *args):
    code, out, err = against(url, "--format", "json", *args)
    return code, json.loads(out) if out.strip() else None, err


@pytest.fixture(scope="module")
def sample_sqlite(tmp_path_factory):
    """A SQLite database file holding the sample, loaded by backfill_json in a subprocess."""
    path = tmp_path_factory.mktemp("other") / "other.sqlite3"
    loaded_database(f"sqlite:///{path}")
    return path


@pytest.fixture
def other(sample_sqlite, sqlite_copy_of):
    return sqlite_copy_of(sample_sqlite)


@pytest.fixture
def loaded(sample_export):
    command("backfill_json", str(sample_export))


def test_same_export_loaded_on_both_sides__passes(loaded, other):
    code, document, _ = report(other)
    assert code == 0 and document["passed"] is True
    counts = {
        e: (r["in_export"], r["in_database"], r["matched"]) for e, r in document["entities"].items()
    }
    assert counts == {"providers": (10, 10, 10), "models": (39, 39, 39), "statuses": (58, 58, 58)}
    assert document["againstDatabase"] == other
    run = ValidationRun.objects.get(pk=document["run"])
    # Recorded, but never a validation a switch to the database could rely on.
    assert run.passed is True and run.complete is False


def test_a_changed_value__exit_1_naming_the_row_field_and_both_values(loaded, other):
    ModelStatus.objects.filter(model__slug="openai-o3", region="global").update(availability=12.5)
    code, out, err = against(other)
    assert code == 1
    assert "~ statuses openai-o3@global availability: 95.05 → 12.5" in out
    assert "the two databases differ: 1 difference(s)" in err


def test_missing_extra_and_metadata__both_directions(loaded, other):
    ModelStatus.objects.filter(model__slug="openai-o3", region="global").delete()
    model = Model.objects.get(slug="openai-o3")
    ModelStatus.objects.create(model=model, region="mars-1", status="outage")
    Provider.objects.filter(slug="openai").update(metadata={"type": "commercial", "x": 1})
    code, document, _ = report(other, "--limit", "50")
    assert code == 1
    found = {(d["kind"], d["entity"], d["key"]) for d in document["differences"]}
    assert ("missing", "statuses", "openai-o3@global") in found
    assert ("extra", "statuses", "openai-o3@mars-1") in found
    changed = next(d for d in document["differences"] if d["kind"] == "changed")
    assert changed["key"] == "openai"
    assert {c["field"] for c in changed["changes"]} >= {"metadata.x"}
    assert document["entities"]["statuses"]["missing"] == 1
    assert document["entities"]["statuses"]["extra"] == 1


def test_a_model_moved_to_another_provider__a_difference(loaded, other):
    Model.objects.filter(slug="openai-o3").update(provider=Provider.objects.get(slug="anthropic"))
    code, out, _ = against(other)
    assert code == 1
    assert '~ models openai-o3 provider: "openai" → "anthropic"' in out


def test_keys_whose_order_depends_on_the_collation__merge_in_code_point_order(loaded, other):
    """Slugs that a locale collation (en_US) orders differently from code points: the merge
    must see the same key order on both sides, or it reports false missing/extra rows."""
    slugs = ["a-b", "aB", "a_b", "ab", "Ab", "a.b", "äb", "zz", "Zz", "ab-", "a b"]
    with databases.opened(other, role="other") as alias:
        for slug in slugs:
            Provider.objects.using(alias).create(slug=slug, name=slug)
            Provider.objects.create(slug=slug, name=slug)
        keys = [key for key, _ in ordered_rows(alias, "providers")]
    assert keys == sorted(keys)
    assert keys == [key for key, _ in ordered_rows("default", "providers")]
    code, document, _ = report(other)
    assert code == 0, document["differences"]
    assert document["entities"]["providers"]["matched"] == 10 + len(slugs)


def test_merge__every_key_of_either_side_once_in_order():
    theirs = iter([(("a",), 1), (("c",), 3), (("d",), 4)])
    ours = iter([(("b",), 2), (("c",), 30), (("e",), 5)])
    assert list(_merged(theirs, ours)) == [
        (("a",), 1, None),
        (("b",), None, 2),
        (("c",), 3, 30),
        (("d",), 4, None),
        (("e",), None, 5),
    ]


def test_an_empty_other_database__everything_extra(loaded, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    from tests.conftest import manage

    assert manage("migrate", "-v", "0", database_url=url).returncode == 0
    code, document, _ = report(url)
    assert code == 1
    assert document["entities"]["statuses"]["extra"] == 58
    assert document["entities"]["providers"]["in_export"] == 0


def test_unusable_url__exit_2_one_line_without_the_password():
    code, _, err = against("mysql2://user:s3cret@host/db")
    assert code == 2
    assert "s3cret" not in err and "other URL" in err


def test_unreachable_database__exit_2_database_error():
    code, _, err = against("postgres://user:s3cret@127.0.0.1:1/nothing")
    assert code == 2
    assert "database error" in err and "s3cret" not in err


def test_sources_and_against__refused():
    code, _, err = against("sqlite:///x.sqlite3", "data/sample")
    assert code == 2 and "not both" in err


@pytest.mark.postgres
def test_postgresql_on_both_sides(loaded, h12b_postgres):
    code, document, _ = report(loaded_database(h12b_postgres()))
    assert code == 0 and document["passed"] is True
    assert document["entities"]["statuses"]["matched"] == 58


@pytest.mark.postgres
def test_a_postgresql_database_with_a_locale_collation__still_merged_in_code_point_order(
    loaded, h12b_postgres
):
    """In an en-US (ICU) database "ab" sorts before "B"; in code point order after it. Read in
    the database's own order, the merge would report false missing and extra rows."""
    url = loaded_database(h12b_postgres(icu_locale="en-US"))
    slugs = ["B", "ab", "a-c", "aC", "Zz", "zz", "äb", "a b"]
    with databases.opened(url, role="other") as alias:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT %s < %s", ["ab", "B"])
            assert cursor.fetchone()[0] is True  # the locale's order, not code points
        for slug in slugs:
            Provider.objects.using(alias).create(slug=slug, name=slug)
            Provider.objects.create(slug=slug, name=slug)
    code, document, _ = report(url)
    assert code == 0, document["differences"]
    assert document["entities"]["providers"]["matched"] == 10 + len(slugs)
