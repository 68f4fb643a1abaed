"""Real exports in every shape they come in (issue 10), each rule seen from every consumer at once:
backfill_json loads, validate_migration passes, and the JSON backend answers as the database
does — on SQLite and on PostgreSQL alike (the suite runs on both)."""

import json
import os

import pytest

from catalog.backends.database import DatabaseBackend
from catalog.models import Model, ModelStatus, Provider
from migrator.envelope import latest_envelope
from migrator.models import ExportEnvelope, ModelAlias, RejectedRecord
from tests.conftest import command
from tests.migrator.test_pipeline import loaded_everywhere, model, reasons, write_export

pytestmark = pytest.mark.django_db


def backfill_report(*args) -> tuple[int, dict]:
    code, out, err = command("backfill_json", *map(str, args), "--format", "json")
    assert code in (0, 1), err
    return code, json.loads(out)


def validate_report(export) -> dict:
    code, out, _ = command("validate_migration", str(export), "--format", "json")
    document = json.loads(out)
    assert code == 0, document["differences"]
    return document


# --- 1. models.json as an array, a provider as a string ----------------------------------------


def test_array_models_json__loads_like_the_object_form(tmp_path, settings):
    export = write_export(tmp_path / "e", models=[model("One"), model("Two")])
    (export / "models.json").write_text(json.dumps([model("One"), model("Two")]))
    report = loaded_everywhere(export, settings)
    assert report["entities"]["models"]["inserted"] == 2
    assert sorted(Model.objects.values_list("slug", flat=True)) == ["acme-one", "acme-two"]
    assert latest_envelope("models") == {"_shape": "array"}


def test_provider_as_a_string__a_slug_a_known_name_or_a_new_provider(tmp_path, settings):
    providers = [
        {"id": "p-1", "slug": "acme", "name": "Acme"},
        {"id": "p-2", "slug": "deepmind", "name": "Google DeepMind"},
    ]
    models = [
        {"id": "m1", "name": "One", "provider": "acme"},
        {"id": "m2", "name": "Gemini", "provider": "Google DeepMind"},
        {"id": "m3", "name": "Widget", "provider": "New Co"},
    ]
    export = write_export(tmp_path / "e", providers=providers, models=models)
    report = loaded_everywhere(export, settings)
    assert report["entities"]["models"]["inserted"] == 3
    assert dict(Model.objects.values_list("slug", "provider__slug")) == {
        "acme-one": "acme",
        "deepmind-gemini": "deepmind",
        "new-co-widget": "new-co",
    }
    assert Provider.objects.get(slug="new-co").name == "New Co"
    # The string is kept as the export gave it.
    assert Model.objects.get(slug="deepmind-gemini").metadata["provider"] == "Google DeepMind"


def test_provider_string_empty__rejects_the_model_naming_the_field(tmp_path, settings):
    models = [model("One"), {"id": "m2", "name": "Two", "provider": "  "}]
    export = write_export(tmp_path / "e", models=models)
    loaded_everywhere(export, settings)
    assert reasons("models") == {
        "id m2": ("provider", "provider is required (an object with an id, or a name)")
    }


# --- 2. the model's own status -------------------------------------------------------------------


def test_own_status__is_the_global_status_where_the_status_file_has_none(tmp_path, settings):
    models = [
        model("One", status={"status": "degraded", "availability": 97.5}),
        model("Two", status="outage", availability=12.5),
        model("Three", availability=99.9),
        model("Four", status={"status": "operational"}),
        model("Five"),
    ]
    statuses = {"acme-four": {"status": "outage", "availability": 50.0}}
    export = write_export(tmp_path / "e", models=models, statuses=statuses)
    report = loaded_everywhere(export, settings)
    stored = {
        s.model.slug: (s.status, s.availability, s.origin)
        for s in ModelStatus.objects.select_related("model")
    }
    assert stored == {
        "acme-one": ("degraded", 97.5, "models_file"),
        "acme-two": ("outage", 12.5, "models_file"),
        "acme-three": ("unknown", 99.9, "models_file"),
        "acme-four": ("outage", 50.0, "status_file"),  # model-status.json wins
    }
    assert report["warnings"] == [
        "acme-four: status 'outage', models.json #3.status says 'operational' "
        "(model-status.json wins)"
    ]
    document = validate_report(export)
    assert document["warnings"] == {"status differs from models.json": 1}
    # The API shows the status the export states (both backends: loaded_everywhere compared them).
    shown = DatabaseBackend().get_model("acme-two")
    assert (shown["status"]["status"], shown["availability"]) == ("outage", 12.5)
    assert DatabaseBackend().get_model("acme-five")["status"] is None  # it states none


def test_own_status__changing_origin_is_seen_by_validate(tmp_path, settings):
    export = write_export(tmp_path / "e", models=[model("One", status="operational")])
    loaded_everywhere(export, settings)
    ModelStatus.objects.update(origin="status_file")  # behind the app's back
    code, out, _ = command("validate_migration", str(export), "--format", "json")
    assert code == 1
    (difference,) = json.loads(out)["differences"]
    assert difference["key"] == "acme-one@global"


def test_own_status_invalid__rejected_from_models_json_and_the_model_loads(tmp_path, settings):
    models = [model("One", status={"status": "running"}), model("Two", availability=140)]
    export = write_export(tmp_path / "e", models=models)
    loaded_everywhere(export, settings)
    assert Model.objects.count() == 2 and not ModelStatus.objects.exists()
    rejects = {
        r.record_key: (r.file, r.position, r.field, r.context.get("origin"))
        for r in RejectedRecord.objects.all()
    }
    assert rejects == {
        "acme-one@global": ("models.json", "#0.status", "status", "models_file"),
        "acme-two@global": ("models.json", "#1.status", "availability", "models_file"),
    }


def test_no_status_file__the_models_own_statuses_load_and_validate(tmp_path, settings):
    export = write_export(tmp_path / "e", models=[model("One", status="degraded")])
    (export / "model-status.json").unlink()
    loaded_everywhere(export, settings)
    assert ModelStatus.objects.get().origin == "models_file"


# --- 3. status keys in another naming scheme ----------------------------------------------------


def test_status_keys__slug_source_id_bare_name_alias(tmp_path, settings):
    models = [
        model("One"),
        {"id": "uuid-two", "name": "Two", "provider": {"id": "acme"}},
        model("GPT-4"),
        model("Four"),
    ]
    ModelAlias.objects.create(alias="acme-four-old", model_slug="acme-four")
    statuses = {
        "acme-one": {"status": "operational"},
        "uuid-two": {"status": "degraded"},
        "gpt-4": {"status": "outage"},
        "acme-four-old": {"status": "unknown"},
    }
    export = write_export(tmp_path / "e", models=models, statuses=statuses)
    loaded_everywhere(export, settings)
    assert dict(ModelStatus.objects.values_list("model__slug", "status")) == {
        "acme-one": "operational",
        "acme-two": "degraded",
        "acme-gpt-4": "outage",
        "acme-four": "unknown",
    }


def test_status_key_ambiguous__rejected_naming_both_then_an_alias_decides(
    tmp_path, settings, admin_client_logged_in
):
    providers = [{"slug": "acme", "name": "Acme"}, {"slug": "zeta", "name": "Zeta"}]
    models = [model("Gamma"), model("Gamma", provider="zeta")]
    statuses = {"gamma": {"status": "degraded"}}
    export = write_export(tmp_path / "e", providers=providers, models=models, statuses=statuses)
    loaded_everywhere(export, settings)
    (reject,) = RejectedRecord.objects.all()
    assert reject.reason == (
        "status key 'gamma' is ambiguous: it is the name of 'acme-gamma' and of 'zeta-gamma'; "
        "name the right one with a model alias (admin: Model aliases)"
    )
    # The admin's "map to model…" on the reject, then --retry-failed loads it.
    response = admin_client_logged_in.post(
        "/admin/migrator/rejectedrecord/",
        {"action": "map_to_model", "_selected_action": [reject.pk], "model_slug": "zeta-gamma"},
        follow=True,
    )
    assert b"run `backfill_json --retry-failed`" in response.content
    assert ModelAlias.objects.get(alias="gamma").model_slug == "zeta-gamma"
    code, report = backfill_report("--retry-failed")
    assert code == 0 and report["entities"]["statuses"]["inserted"] == 1
    assert ModelStatus.objects.get().model.slug == "zeta-gamma"
    # ...and every later run honours it.
    loaded_everywhere(export, settings)
    assert not RejectedRecord.objects.exists()


def test_map_to_model__an_unknown_slug_is_refused(tmp_path, admin_client_logged_in):
    export = write_export(tmp_path / "e", models=[model("One")], statuses={"nope": {}})
    command("backfill_json", str(export))
    reject = RejectedRecord.objects.get()
    response = admin_client_logged_in.post(
        "/admin/migrator/rejectedrecord/",
        {"action": "map_to_model", "_selected_action": [reject.pk], "model_slug": "acme-two"},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [
        "no model has the slug 'acme-two': give an existing model's slug"
    ]
    assert not ModelAlias.objects.exists()


def test_two_keys_naming_one_model__the_second_is_rejected(tmp_path, settings):
    statuses = {"acme-one": {"status": "degraded"}, "one": {"status": "outage"}}
    export = write_export(tmp_path / "e", models=[model("One")], statuses=statuses)
    loaded_everywhere(export, settings)
    assert ModelStatus.objects.get().status == "degraded"
    assert list(reasons("statuses").values()) == [
        (
            "",
            "status key 'one' names model 'acme-one', as key 'acme-one' does (the first one loads)",
        )
    ]


# --- 4. slugs never merge distinct models --------------------------------------------------------


def test_symbols__command_r_and_command_r_plus_are_two_models(tmp_path, settings):
    models = [model("Command R"), model("Command R+"), model("C++ Coder")]
    export = write_export(tmp_path / "e", models=models)
    report = loaded_everywhere(export, settings)
    assert report["entities"]["models"]["inserted"] == 3
    assert dict(Model.objects.values_list("slug", "name")) == {
        "acme-command-r": "Command R",
        "acme-command-r-plus": "Command R+",
        "acme-c-coder": "C++ Coder",  # unique as it is: today's slug stays
    }


def test_non_latin_names__transliterated_or_the_source_id(tmp_path, settings):
    models = [
        model("通义千问"),
        model("\uff27\uff30\uff34\uff0d\uff14"),  # full-width Latin "ＧＰＴ－４"  # noqa: RUF003
        {"id": "x-77", "name": "!!!", "provider": {"id": "acme"}},
        {"id": "", "name": "???", "provider": {"id": "acme"}},
    ]
    export = write_export(tmp_path / "e", models=models)
    loaded_everywhere(export, settings)
    assert sorted(Model.objects.values_list("slug", flat=True)) == [
        "acme-gpt-4",
        "acme-tongyiqianwen",
        "acme-x-77",
    ]
    (reject,) = RejectedRecord.objects.all()
    assert reject.field == "name" and "gives no slug" in reject.reason


def test_true_duplicates__merged_gaps_filled_conflicts_warned(tmp_path, settings):
    models = [
        model("GPT-4", contextWindow=8192),
        model("gpt 4", contextWindow=32768, description="filled from the second"),
        model("GPT-4", tags=["latest"]),
    ]
    export = write_export(tmp_path / "e", models=models)
    report = loaded_everywhere(export, settings)
    assert report["entities"]["models"]["merged"] == 2
    assert report["entities"]["models"]["inserted"] == 1
    stored = Model.objects.get()
    assert (stored.slug, stored.name, stored.context_window) == ("acme-gpt-4", "GPT-4", 8192)
    assert (stored.description, stored.tags) == ("filled from the second", ["latest"])
    assert report["warnings"][0] == (
        "models.json #1 merged into #0 (the same model, acme-gpt-4); differing: id, name, "
        "contextWindow (the first record's kept)"
    )
    merged = ExportEnvelope.objects.get(kind="models").merged
    assert [m["position"] for m in merged] == ["#1", "#2"]
    assert merged[0]["record"]["contextWindow"] == 32768  # nothing of the export is lost
    document = validate_report(export)
    assert document["entities"]["models"]["merged"] == 2


# --- 5. the envelope -----------------------------------------------------------------------------


def test_envelope__kept_providers_list_loaded_statistics_checked(tmp_path, settings):
    export = write_export(tmp_path / "e", models=[model("One")])
    document = {
        "metadata": {"version": "2.0", "source": "cron"},
        "statistics": {"totalModels": 3},
        "typeStatistics": {"chat": 1},
        "providers": [{"id": "acme", "name": "Acme"}, {"id": "only-here", "name": "Only Here"}],
        "models": [model("One")],
    }
    (export / "models.json").write_text(json.dumps(document))
    status_file = {"version": "1.2.3", "lastUpdated": "2025-08-15T05:47:00Z", "statuses": {}}
    (export / "model-status.json").write_text(json.dumps(status_file))
    report = loaded_everywhere(export, settings)
    assert Provider.objects.get(slug="only-here").name == "Only Here"
    assert latest_envelope("models") == {
        "metadata": {"version": "2.0", "source": "cron"},
        "statistics": {"totalModels": 3},
        "typeStatistics": {"chat": 1},
        "providers": document["providers"],
        "_shape": "object",
    }
    assert latest_envelope("statuses") == {
        "version": "1.2.3",
        "lastUpdated": "2025-08-15T05:47:00Z",
    }
    warning = "models.json statistics.totalModels says 3, the file holds 1 model record(s)"
    assert warning in report["warnings"]
    validation = validate_report(export)
    assert validation["warnings"]["statistics.totalModels differs"] == 1
    assert warning in validation["warningExamples"]


# --- 6. numbers out of range, files that are not files ------------------------------------------


def test_numbers_out_of_range__reject_the_record_the_rest_loads(tmp_path, settings):
    export = write_export(tmp_path / "e", models=[model("One"), model("Two"), model("Three")])
    text = (export / "models.json").read_text()
    text = text.replace('"name": "Two"', '"name": "Two", "contextWindow": 123456789012345678901234')
    text = text.replace('"name": "Three"', '"name": "Three", "extra": {"deep": [1, 1e400]}')
    (export / "models.json").write_text(text)
    statuses = '{"statuses": {"acme-one": {"status": "degraded", "latencyP50": 1e999}}}'
    (export / "model-status.json").write_text(statuses)
    report = loaded_everywhere(export, settings)
    assert list(Model.objects.values_list("slug", flat=True)) == ["acme-one"]
    assert {(r.position, r.field) for r in RejectedRecord.objects.all()} == {
        ("#1", "contextWindow"),
        ("#2", "extra.deep[1]"),
        ("acme-one", "latencyP50"),
    }
    reject = RejectedRecord.objects.get(position="#1")
    assert reject.reason.startswith("contextWindow is 123456789012345678901234, beyond")
    assert reject.raw["contextWindow"] == "123456789012345678901234"  # kept, as text
    assert report["entities"]["models"]["rejected"] == 2


@pytest.mark.parametrize("kind", ["directory", "dangling", "loop"])
def test_models_json_not_a_file__a_clear_error_naming_it(tmp_path, kind):
    export = write_export(tmp_path / "e", models=[model("One")])
    target = export / "models.json"
    target.unlink()
    if kind == "directory":
        target.mkdir()
        expected = "is a directory, not a file"
    elif kind == "dangling":
        target.symlink_to(tmp_path / "gone.json")
        expected = f"is a symbolic link to '{tmp_path / 'gone.json'}', which does not exist"
    else:
        target.symlink_to(target)
        expected = "is a symbolic link that loops"
    code, _, err = command("backfill_json", str(export))
    assert code == 2
    assert f"{target}: {expected}" in err
    assert not Model.objects.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: permissions cannot be tested")
def test_models_json_unreadable__a_clear_error_naming_it(tmp_path):
    export = write_export(tmp_path / "e", models=[model("One")])
    (export / "models.json").chmod(0)
    code, _, err = command("backfill_json", str(export))
    assert code == 2 and f"{export / 'models.json'}: cannot be read (permission denied)" in err


def test_no_status_file__the_databases_other_statuses_are_not_extra(tmp_path, settings):
    models = [model("One", status="degraded"), model("Two")]
    export = write_export(
        tmp_path / "e", models=models, statuses={"acme-two": {"status": "outage"}}
    )
    loaded_everywhere(export, settings)
    (export / "model-status.json").unlink()
    code, out, _ = command("backfill_json", str(export), "--prune", "--format", "json")
    assert code == 0 and json.loads(out)["entities"]["statuses"]["pruned"] == 0
    assert validate_report(export)["entities"]["statuses"]["matched"] == 1
    assert ModelStatus.objects.count() == 2
