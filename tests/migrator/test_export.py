"""export_json: the database written back out as an export, and the round trips it must pass."""

import hashlib
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import Model, ModelStatus, Provider
from migrator import export
from migrator.models import RejectedRecord
from tests.conftest import command
from tests.live.test_stores_agree import exports
from tests.migrator import test_pipeline as pipeline_cases
from tests.snapshots import catalog_snapshot

pytestmark = pytest.mark.django_db

FILES = ("providers.json", "models.json", "model-status.json")


def export_to(directory) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    code, out, err = command("export_json", str(directory), "--format", "json")
    assert code == 0, err
    return json.loads(out)


def digests(directory) -> dict:
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in FILES}


def entities(out: str) -> dict:
    return json.loads(out)["entities"]


def test_sample__loading_its_export_changes_nothing_and_validates(sample_export, tmp_path):
    command("backfill_json", str(sample_export))
    report = export_to(tmp_path / "out")
    assert [f["records"] for f in report["files"]] == [10, 39, 56]
    code, out, err = command("backfill_json", str(tmp_path / "out"), "--format", "json")
    assert code == 0, err
    for entity, counts in entities(out).items():
        assert (counts["inserted"], counts["updated"], counts["pruned"]) == (0, 0, 0), entity
    assert command("validate_migration", str(tmp_path / "out"))[0] == 0
    # ... and the export still validates against the export the database was loaded from.
    assert command("validate_migration", str(sample_export))[0] == 0


def test_sample__the_same_database_gives_the_same_bytes(sample_export, tmp_path):
    command("backfill_json", str(sample_export))
    first = export_to(tmp_path / "a")
    second = export_to(tmp_path / "b")
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert [f["sha256"] for f in first["files"]] == [f["sha256"] for f in second["files"]]
    again = export_to(tmp_path / "a")
    assert again["changed"] is False
    assert not [p for p in os.listdir(tmp_path / "a") if p.startswith(".")]  # no temporaries


def test_sample__keeps_source_ids_metadata_and_the_documented_shape(sample_export, tmp_path):
    command("backfill_json", str(sample_export))
    out = tmp_path / "out"
    export_to(out)
    providers = json.loads((out / "providers.json").read_text())
    models = json.loads((out / "models.json").read_text())
    statuses = json.loads((out / "model-status.json").read_text())
    original = {p["slug"]: p for p in json.loads((sample_export / "providers.json").read_text())}
    openai = next(p for p in providers if p["slug"] == "openai")
    assert openai["id"] == original["openai"]["id"]
    assert openai["metadata"] == original["openai"]["metadata"]  # the export's own "metadata"
    assert models["statistics"]["totalModels"] == 39 == len(models["models"])
    assert {"id", "name", "provider", "status"} <= models["models"][0].keys()
    assert "slug" not in models["models"][0]  # models carry no slug: it is derived
    # The envelope of the export the database was loaded from is kept and written back.
    sample_models = json.loads((sample_export / "models.json").read_text())
    sample_statuses = json.loads((sample_export / "model-status.json").read_text())
    assert models["metadata"] == sample_models["metadata"]
    assert models["providers"] == sample_models["providers"]
    assert (statuses["version"], statuses["lastUpdated"]) == (
        sample_statuses["version"],
        sample_statuses["lastUpdated"],
    )
    assert list(statuses["statuses"]) == sorted(statuses["statuses"])
    # deepseek-r1's only status was rejected (availability 101.5): its key stays, empty, so that
    # the status its models.json record states does not load in its place.
    assert statuses["statuses"]["deepseek-deepseek-r1"] == []


def test_pages__any_page_size_gives_the_same_files(sample_export, tmp_path, monkeypatch):
    """Keyset paging resumes exactly after each page's last key, across models and regions."""
    command("backfill_json", str(sample_export))
    # (a model without an own status: that one is written in its models.json record)
    model = Model.objects.exclude(statuses__origin="models_file").order_by("slug").first()
    for region in ("us-east-1", "eu-west-1", "ap-1", "Z", "a"):  # code point order: Z < a
        ModelStatus.objects.create(model=model, region=region, status="degraded")
    export_to(tmp_path / "big")
    monkeypatch.setattr(export, "PAGE_SIZE", 2)
    export_to(tmp_path / "small")
    assert digests(tmp_path / "big") == digests(tmp_path / "small")
    statuses = json.loads((tmp_path / "small" / "model-status.json").read_text())["statuses"]
    regions = [s["region"] for s in statuses[model.slug]]
    assert regions == sorted(regions) and "Z" in regions
    assert len(regions) == ModelStatus.objects.filter(model=model).count()


def test_empty_database__writes_an_empty_export_that_loads(tmp_path):
    report = export_to(tmp_path / "out")
    assert [f["records"] for f in report["files"]] == [0, 0, 0]
    assert json.loads((tmp_path / "out" / "models.json").read_text())["models"] == []
    code, _out, err = command("backfill_json", str(tmp_path / "out"), "--format", "json")
    assert code == 0, err


def test_bad_directory__a_clear_error_and_nothing_written(tmp_path):
    code, _, err = command("export_json", str(tmp_path / "missing"))
    assert code == 2
    assert "no such directory: create it first" in err
    assert not (tmp_path / "missing").exists()


def test_failed_write__the_previous_files_stay_whole(sample_export, tmp_path, monkeypatch):
    command("backfill_json", str(sample_export))
    out = tmp_path / "out"
    export_to(out)
    before = digests(out)
    Provider.objects.filter(slug="openai").update(name="OpenAI, renamed")

    def fail(writer, unheard):
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(export.WRITERS, "statuses", fail)
    code, _, err = command("export_json", str(out))
    assert code == 2 and "No space left on device" in err and "Nothing was replaced" in err
    assert digests(out) == before  # providers.json was complete, yet not renamed alone
    assert sorted(os.listdir(out)) == sorted(FILES)


# --- a model's own status (origin models_file) -------------------------------------------------


def own_status_export(tmp_path):
    models = [
        pipeline_cases.model("One", status={"status": "degraded", "availability": 97.5}),
        pipeline_cases.model("Two", status="outage", availability=12.5),
        pipeline_cases.model("Three", availability=99.9),
        pipeline_cases.model("Four", status={"status": "operational"}),
    ]
    statuses = {"acme-four": {"status": "outage", "availability": 50.0}}
    return pipeline_cases.write_export(tmp_path / "e", models=models, statuses=statuses)


def loads_back_unchanged(directory) -> None:
    code, out, err = command("backfill_json", str(directory), "--format", "json")
    assert code == 0, err
    for entity, counts in entities(out).items():
        assert (counts["inserted"], counts["updated"], counts["pruned"]) == (0, 0, 0), entity
    assert command("validate_migration", str(directory))[0] == 0


def test_own_status__written_back_in_its_models_record_not_in_the_status_file(tmp_path):
    command("backfill_json", str(own_status_export(tmp_path)))
    before = catalog_snapshot()
    out = tmp_path / "out"
    export_to(out)
    models = {m["name"]: m for m in json.loads((out / "models.json").read_text())["models"]}
    statuses = json.loads((out / "model-status.json").read_text())["statuses"]
    assert models["One"]["status"] == {"status": "degraded", "availability": 97.5}
    assert (models["Two"]["status"], models["Two"]["availability"]) == ("outage", 12.5)
    assert sorted(statuses) == ["acme-four"]  # the own statuses are not repeated there
    loads_back_unchanged(out)
    assert catalog_snapshot() == before
    origins = dict(ModelStatus.objects.values_list("model__slug", "origin"))
    assert origins["acme-one"] == origins["acme-two"] == "models_file"


def test_own_status_changed_in_the_database__the_export_says_what_is_stored(tmp_path):
    command("backfill_json", str(own_status_export(tmp_path)))
    ModelStatus.objects.filter(model__slug="acme-two").update(
        availability=99.99, status="operational", checked_at="2026-11-22T10:00:00Z"
    )
    out = tmp_path / "out"
    export_to(out)
    two = next(
        m for m in json.loads((out / "models.json").read_text())["models"] if m["name"] == "Two"
    )
    assert (two["status"]["status"], two["status"]["availability"], two["availability"]) == (
        "operational",
        99.99,
        99.99,
    )
    assert two["status"]["checkedAt"] == "2026-11-22T10:00:00.000Z"
    # The kept envelope's lastUpdated moves to the newer status.
    assert json.loads((out / "model-status.json").read_text())["lastUpdated"].startswith(
        "2026-11-22T10:00:00"
    )
    # Loading it back brings the model's kept ``status`` field (its metadata) up to date with
    # the stored status, and changes nothing else; from then on the round trip is exact.
    before = catalog_snapshot()
    code, report, err = command("backfill_json", str(out), "--format", "json")
    assert code == 0, err
    counts = {e: (c["inserted"], c["updated"]) for e, c in entities(report).items()}
    assert counts == {"providers": (0, 0), "models": (0, 1), "statuses": (0, 0)}
    after = catalog_snapshot()
    assert after["statuses"] == before["statuses"]
    assert after["models"]["acme-two"]["metadata"]["status"]["availability"] == 99.99
    export_to(out)
    loads_back_unchanged(out)


# --- the property: generated messy exports --------------------------------------------------


def write_export(directory, providers, models, statuses):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "providers.json").write_text(json.dumps(providers))
    (directory / "models.json").write_text(json.dumps({"models": models}))
    (directory / "model-status.json").write_text(json.dumps({"statuses": statuses}))


def loaded_and_exported(export_e, root) -> dict:
    """Generated export E written to ``root/e`` and loaded into an empty catalog, then exported
    to ``root/x``; the catalog as E loaded it."""
    providers, models, statuses = export_e
    empty_catalog()
    RejectedRecord.objects.all().delete()
    write_export(root / "e", providers, models, statuses)
    code, _, err = command("backfill_json", str(root / "e"))
    assert code in (0, 1), err
    loaded = catalog_snapshot()
    export_to(root / "x")
    return loaded


def empty_catalog():
    for model in (ModelStatus, Model, Provider):
        model.objects.all().delete()


@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(export_e=exports())
def test_generated_exports__the_export_of_a_load_is_the_export(export_e, tmp_path_factory):
    """For generated export E: export_json(backfill_json(E)), loaded into an empty catalog,
    gives the very rows E gives (every column, metadata included), validate_migration passes
    for it, and exporting that database again gives the same bytes."""
    root = tmp_path_factory.mktemp("round")
    loaded_from_e = loaded_and_exported(export_e, root)
    empty_catalog()
    code, _out, err = command("backfill_json", str(root / "x"), "--format", "json")
    assert code == 0, err  # what loaded once loads again, every record of it
    assert catalog_snapshot() == loaded_from_e
    assert command("validate_migration", str(root / "x"))[0] == 0
    export_to(root / "y")
    assert digests(root / "x") == digests(root / "y")


# Richer records than the shared generator: fields kept in metadata (nested, unicode, keys out of
# order), an embedded headline status, prices, timestamps with offsets, regions in lists.
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet='aZé中 -"\\', max_size=6),
)
json_value = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(alphabet="zyxaé", min_size=1, max_size=3), children, max_size=3),
    ),
    max_leaves=8,
)
stamps = st.sampled_from(
    ["2025-08-14T13:02:45.715Z", "2025-08-14T15:02:45+02:00", "2025-08-14T13:02:45.000123Z"]
)
rich_status = st.fixed_dictionaries(
    {"status": st.sampled_from(["operational", "degraded", "outage", "unknown"])},
    optional={
        "availability": st.floats(min_value=0, max_value=100),
        "latencyP95": st.floats(min_value=0, max_value=1e6),
        "requestsPerMin": st.integers(min_value=0, max_value=2**40),
        "checkedAt": stamps,
        "probe": json_value,
    },
)
rich_model = st.fixed_dictionaries(
    {
        "name": st.text(alphabet="abc +.中", min_size=1, max_size=8).filter(str.strip),
        "provider": st.fixed_dictionaries(
            {"id": st.sampled_from(["acme", "beta"])}, optional={"name": st.just("Acme")}
        ),
    },
    optional={
        "id": st.uuids().map(str),
        "inputPrice": st.decimals(min_value=0, max_value=999, places=4).map(float),
        "releasedAt": stamps,
        "status": rich_status,
        "availability": st.floats(min_value=0, max_value=100),
        "metadata": json_value,
        "zz-extra": json_value,
    },
)


@st.composite
def rich_exports(draw):
    providers = [{"slug": "acme", "name": "Acme", "id": "p-1", "extra": draw(json_value)}]
    models = draw(st.lists(rich_model, max_size=5))
    keys = sorted({f"{m['provider']['id']}-{m['name'].lower()}" for m in models})
    regions = st.lists(
        st.sampled_from(["global", "eu-west-1", "us-east-1", "ap-1"]), unique=True, max_size=3
    )
    statuses = {}
    for key in keys:
        chosen = draw(regions)
        records = [draw(rich_status) | {"region": region} for region in chosen]
        if records:
            statuses[key] = records[0] if len(records) == 1 else records
    return providers, models, statuses


@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(export_e=rich_exports())
def test_generated_rich_exports__every_kept_field_comes_back(export_e, tmp_path_factory):
    """Metadata of every shape, embedded statuses, prices and offsets survive the round trip."""
    root = tmp_path_factory.mktemp("rich")
    loaded_from_e = loaded_and_exported(export_e, root)
    code, out, err = command("backfill_json", str(root / "x"), "--format", "json")
    assert code == 0, err
    assert all(c["updated"] == c["inserted"] == 0 for c in json.loads(out)["entities"].values())
    empty_catalog()
    assert command("backfill_json", str(root / "x"))[0] == 0
    assert catalog_snapshot() == loaded_from_e
    export_to(root / "y")
    assert digests(root / "x") == digests(root / "y")
