"""The forked reader: its failures reach the parent, and its fingerprint hints (read over its
own connection, so only committed rows: hence transactional tests) change no outcome."""

import json
import os

import pytest

from catalog.models import ModelStatus
from migrator import child_process
from migrator.errors import SourceError
from tests.conftest import command
from tests.snapshots import updated_stamps


def _dies():
    yield "first"
    os._exit(3)


def _fails():
    yield "first"
    raise SourceError("broken in the child")


def test_a_child_that_dies__is_an_error_in_the_parent():
    # What it sent just before dying may be lost with it (as with kill -9): only the error counts.
    with pytest.raises(SourceError, match=r"stopped unexpectedly \(exit code 3\)"):
        list(child_process.in_child(_dies, name="test-reader", describe="somewhere"))


def test_a_child_that_raises__raises_in_the_parent():
    items = child_process.in_child(_fails, name="test-reader", describe="somewhere")
    assert next(items) == "first"
    with pytest.raises(SourceError, match="broken in the child"):
        next(items)


@pytest.mark.django_db(transaction=True)
def test_rerun_with_fingerprint_hints__updates_only_what_changed(sample_export):
    assert command("backfill_json", str(sample_export))[0] == 1
    stamps = updated_stamps()
    data = json.loads((sample_export / "model-status.json").read_text())
    data["statuses"]["openai-o3"]["availability"] = 42.0
    (sample_export / "model-status.json").write_text(json.dumps(data))
    _, out, _ = command("backfill_json", str(sample_export), "--format", "json")
    statuses = json.loads(out)["entities"]["statuses"]
    assert (statuses["updated"], statuses["unchanged"], statuses["inserted"]) == (1, 57, 0)
    assert ModelStatus.objects.get(model__slug="openai-o3").availability == 42.0
    after = updated_stamps()["statuses"]
    assert {k for k in after if after[k] != stamps["statuses"][k]} == {("openai-o3", "global")}


@pytest.mark.django_db(transaction=True)
def test_validation_in_a_child_process__finds_every_difference(sample_export):
    command("backfill_json", str(sample_export))
    assert command("validate_migration", str(sample_export))[0] == 0
    ModelStatus.objects.filter(model__slug="openai-o3").update(availability=1.0)
    ModelStatus.objects.filter(model__slug="xai-grok-3").update(status="outage")  # by hand
    code, out, _ = command("validate_migration", str(sample_export), "--format", "json")
    assert code == 1
    assert sorted(d["key"] for d in json.loads(out)["differences"]) == [
        "openai-o3@global",
        "xai-grok-3@global",
    ]
