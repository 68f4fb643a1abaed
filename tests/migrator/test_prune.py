"""Prune that cannot surprise (migrator/prune.py): the guard, and statuses pruned with their
models counted as what they are, with backfill and validate agreeing after every run."""

import json

import pytest

from catalog.models import Model, ModelStatus, Provider
from migrator.models import PrunedRow
from tests.conftest import command

pytestmark = pytest.mark.django_db


def backfill(*args) -> tuple[int, dict | None, str]:
    code, out, err = command("backfill_json", *[str(a) for a in args], "--format", "json")
    return code, (json.loads(out) if out.strip() else None), err


def validates(export) -> bool:
    return command("validate_migration", str(export))[0] == 0


def empty_models(export):
    (export / "models.json").write_text(json.dumps({"models": []}))


def test_empty_models_with_prune__refused_and_nothing_deleted(sample_export):
    backfill(sample_export)
    before = (Model.objects.count(), ModelStatus.objects.count())
    empty_models(sample_export)
    code, _, err = backfill(sample_export, "--prune")
    assert code == 2
    assert "prune refused, nothing deleted" in err
    assert "the export holds no models and the prune would delete all 39 models rows" in err
    assert "--force" in err
    assert (Model.objects.count(), ModelStatus.objects.count()) == before
    assert not PrunedRow.objects.exists()


def test_empty_models_with_prune_and_force__backfill_and_validate_agree(sample_export):
    backfill(sample_export)
    statuses = ModelStatus.objects.count()
    empty_models(sample_export)
    code, report, _ = backfill(sample_export, "--prune", "--force")
    assert code == 1  # every status now names an unknown model: rejected
    entities = report["entities"]
    assert entities["models"]["pruned"] == 39
    # The statuses go with their models, counted as pruned statuses (not as "unchanged").
    assert entities["statuses"]["pruned"] == statuses
    assert entities["statuses"]["unchanged"] == 0
    assert any("pruned with their models" in note for note in report["notes"])
    assert not Model.objects.exists() and not ModelStatus.objects.exists()
    assert validates(sample_export)
    # A second identical run: nothing left to prune, the same rejects.
    code, again, _ = backfill(sample_export, "--prune", "--force")
    assert again["entities"]["statuses"]["pruned"] == 0
    assert again["entities"]["statuses"]["rejected"] == entities["statuses"]["rejected"]
    assert validates(sample_export)


def test_prune_over_the_share__refused_unless_the_limit_allows(sample_export):
    backfill(sample_export)
    data = json.loads((sample_export / "models.json").read_text())
    data["models"] = data["models"][:10]  # 30 of 39 models leave the export
    (sample_export / "models.json").write_text(json.dumps(data))
    code, _, err = backfill(sample_export, "--prune")
    assert code == 2 and "more than --max-prune-percent 50" in err
    assert Model.objects.count() == 39
    code, report, _ = backfill(sample_export, "--prune", "--max-prune-percent", "90")
    assert report["entities"]["models"]["pruned"] == 30
    assert Model.objects.count() == 9 + 0  # the first ten minus the sample's duplicate
    assert validates(sample_export)


def test_small_prune__within_the_guard(sample_export):
    backfill(sample_export)
    data = json.loads((sample_export / "models.json").read_text())
    data["models"] = [m for m in data["models"] if m["name"] != "Gemma 2 27B"]
    (sample_export / "models.json").write_text(json.dumps(data))
    _code, report, _ = backfill(sample_export, "--prune")
    assert report["entities"]["models"]["pruned"] == 1
    assert not Model.objects.filter(slug="google-gemma-2-27b").exists()
    assert PrunedRow.objects.filter(entity="models", natural_key="google-gemma-2-27b").exists()
    assert Provider.objects.filter(slug="google").exists()  # still used by other models
    # Its status, still in model-status.json, names an unknown model now: a queued reject.
    assert validates(sample_export)
