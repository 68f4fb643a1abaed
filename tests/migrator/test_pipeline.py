"""The acceptance pipeline's rules (migrator/pipeline.py), seen from every consumer at once: what
backfill_json loads, what validate_migration expects and what the JSON backend serves must be
the same records, on SQLite and on PostgreSQL alike."""

import datetime as dt
import json

import pytest

from catalog.backends.base import ModelQuery
from catalog.backends.database import DatabaseBackend
from catalog.models import Model, ModelStatus, Provider
from live.json_backend import JsonBackend
from migrator.models import RejectedRecord
from migrator.pipeline import Acceptance, Accepted
from tests.conftest import command

pytestmark = pytest.mark.django_db

PROVIDERS = [{"id": "p-1", "slug": "acme", "name": "Acme"}]


def model(name, provider="acme", **fields):
    return {
        "id": f"id-{name}",
        "name": name,
        "provider": {"id": provider, "name": "Acme"},
        **fields,
    }


def write_export(directory, *, providers=PROVIDERS, models=(), statuses=None, raw_statuses=None):
    directory.mkdir(exist_ok=True)
    (directory / "providers.json").write_text(json.dumps(providers))
    (directory / "models.json").write_text(json.dumps({"models": list(models)}))
    if raw_statuses is not None:
        (directory / "model-status.json").write_text(raw_statuses)
    else:
        body = {"version": "1.0.0", "statuses": statuses or {}}
        (directory / "model-status.json").write_text(json.dumps(body))
    return directory


def answers(backend, slugs) -> dict:
    """Every read endpoint's answer from one backend."""
    return {
        "list": backend.list_models(ModelQuery(limit=500)).models,
        "detail": {slug: backend.get_model(slug) for slug in slugs},
        "providers": backend.list_providers(),
        "summary": backend.status_summary(),
    }


def loaded_everywhere(export, settings) -> dict:
    """Backfill ``export``, then check that validation passes and that both backends answer
    identically; the backfill's JSON report."""
    code, out, err = command("backfill_json", str(export), "--format", "json")
    assert code in (0, 1), err
    code, out_v, _ = command("validate_migration", str(export), "--format", "json")
    assert code == 0, json.loads(out_v)["differences"]
    settings.JSON_EXPORT_DIR, settings.JSON_EXPORT_URL = export, ""
    slugs = list(Model.objects.values_list("slug", flat=True))
    assert answers(JsonBackend(), slugs) == answers(DatabaseBackend(), slugs)
    return json.loads(out)


def reasons(entity) -> dict:
    return {
        r.record_key: (r.field, r.reason)
        for r in RejectedRecord.objects.filter(entity=entity).order_by("record_key")
    }


def test_region_twice__the_first_valid_one_loads_everywhere(tmp_path, settings):
    statuses = {
        "acme-one": [
            {"region": "eu", "status": "operational", "availability": 500},
            {"region": "eu", "status": "degraded", "availability": 99.0},
            {"region": "eu", "status": "outage", "availability": 10.0},
        ]
    }
    export = write_export(tmp_path / "e", models=[model("One")], statuses=statuses)
    report = loaded_everywhere(export, settings)
    assert report["entities"]["statuses"]["inserted"] == 1
    assert report["entities"]["statuses"]["rejected"] == 2
    stored = ModelStatus.objects.get(model__slug="acme-one", region="eu")
    assert (stored.status, stored.availability) == ("degraded", 99.0)
    assert set(reasons("statuses").values()) == {
        ("availability", "availability must be between 0 and 100, got 500"),
        (
            "region",
            "region 'eu' appears twice for 'acme-one' (first at acme-one[1]; the first valid one "
            "loads)",
        ),
    }


def test_malformed_embedded_provider__rejects_the_model_and_reads_go_on(tmp_path, settings):
    models = [
        model("One"),
        {"id": "x", "name": "Widget", "provider": {"id": "newco", "name": 5}},
    ]
    export = write_export(tmp_path / "e", models=models)
    report = loaded_everywhere(export, settings)
    assert report["entities"]["models"]["rejected"] == 1
    assert not Provider.objects.filter(slug="newco").exists()
    assert reasons("models") == {
        "newco-widget": ("provider.name", "provider.name must be a string, got int")
    }


LIMITS = {
    # field, bad value, the reason's start: each a value PostgreSQL would refuse
    "a name over 255 characters": ("name", "N" * 256, "name gives a slug of 261 characters"),
    "a NUL character": ("description", "bad\x00byte", "description must not contain a NUL"),
    "a price of 1e8 or more": ("inputPrice", 1e8, "inputPrice must be below 1e+08"),
    "a count beyond 32 bits": ("contextWindow", 2**31, "contextWindow must be at most"),
    "a timestamp past year 9999 in UTC": (
        "releasedAt",
        "9999-12-31T23:30:00-01:00",
        "releasedAt '9999-12-31T23:30:00-01:00' falls outside years 1-9999",
    ),
}


@pytest.mark.parametrize("case", sorted(LIMITS))
def test_database_limits__reject_the_model_the_same_on_both_databases(case, tmp_path, settings):
    field, value, reason = LIMITS[case]
    bad = model("Bad")
    bad[field] = value
    export = write_export(tmp_path / "e", models=[model("Good"), bad])
    report = loaded_everywhere(export, settings)
    assert report["entities"]["models"]["rejected"] == 1, case
    ((_key, (rejected_field, text)),) = reasons("models").items()
    assert rejected_field == field and text.startswith(reason), text
    assert list(Model.objects.values_list("slug", flat=True)) == ["acme-good"]


def test_database_limits__status_region_count_and_slug(tmp_path, settings):
    statuses = {
        "acme-one": [
            {"region": "r" * 65, "status": "operational"},
            {"region": "eu", "tokensPerMin": -1},
            {"region": "us", "status": "operational"},
        ]
    }
    providers = [*PROVIDERS, {"slug": "s" * 201, "name": "Long"}]
    export = write_export(
        tmp_path / "e", providers=providers, models=[model("One")], statuses=statuses
    )
    report = loaded_everywhere(export, settings)
    assert report["entities"]["providers"]["rejected"] == 1
    assert report["entities"]["statuses"]["rejected"] == 2
    fields = {field for field, _ in reasons("statuses").values()}
    assert fields == {"region", "tokensPerMin"}
    assert list(ModelStatus.objects.values_list("region", flat=True)) == ["us"]


def test_offset_beyond_what_postgresql_takes__loads_as_utc(tmp_path, settings):
    statuses = {"acme-one": {"status": "operational", "checkedAt": "2025-08-14T12:00:00+20:00"}}
    export = write_export(tmp_path / "e", models=[model("One")], statuses=statuses)
    loaded_everywhere(export, settings)
    stored = ModelStatus.objects.get().checked_at
    assert stored == dt.datetime(2025, 8, 13, 16, 0, tzinfo=dt.UTC)


def test_nested_10000_deep__rejects_the_record_with_its_field(tmp_path, settings):
    deep = "[" * 10_000 + "]" * 10_000
    raw_statuses = (
        '{"statuses": {"acme-one": {"status": "operational", "trace": ' + deep + "}, "
        '"acme-two": {"status": "degraded"}}}'
    )
    models = [model("One"), model("Two")]
    export = write_export(tmp_path / "e", models=models, raw_statuses=raw_statuses)
    report = loaded_everywhere(export, settings)
    assert report["entities"]["statuses"]["rejected"] == 1
    reject = RejectedRecord.objects.get(entity="statuses")
    assert (reject.field, reject.reason) == ("trace", "trace is nested more than 64 levels deep")
    assert "excerpt" in reject.raw  # the record itself cannot be stored: an excerpt is
    assert list(ModelStatus.objects.values_list("model__slug", flat=True)) == ["acme-two"]


def test_unknown_model__is_judged_by_this_exports_models():
    """A status names a model of this export's models.json; the database's count only when the
    export has no models.json."""
    now = dt.datetime.now(dt.UTC)
    acceptance = Acceptance(now=now, known_models={"acme-old"})
    list(acceptance.models_from([(0, model("One"))]))
    items = list(acceptance.statuses_from([("acme-one", {}), ("acme-old", {})]))
    assert [type(i).__name__ for i in items] == ["Accepted", "Reject"]
    without_models = Acceptance(now=now, known_models={"acme-old"})
    (item,) = without_models.statuses_from([("acme-old", {})])
    assert isinstance(item, Accepted)
