import json
import os
import stat

import pytest

from live.stores import JsonStore, StoreNotWritable
from tests.conftest import SAMPLE_DIR

WRITE = {
    "kind": "status",
    "model": "openai-o3",
    "record": {"status": "outage", "region": "eu-1"},
}


def test_json_store__refuses_the_shipped_sample():
    before = {p.name: p.read_bytes() for p in SAMPLE_DIR.iterdir()}
    with pytest.raises(StoreNotWritable, match="read-only input: set JSON_EXPORT_DIR"):
        JsonStore(SAMPLE_DIR).apply(WRITE)
    assert {p.name: p.read_bytes() for p in SAMPLE_DIR.iterdir()} == before
    assert not (SAMPLE_DIR / ".export.lock").exists()


def test_json_store__a_rewrite_keeps_the_file_mode(sample_export):
    target = sample_export / "model-status.json"
    os.chmod(target, 0o644)
    JsonStore(sample_export).apply(WRITE)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert json.loads(target.read_text())["statuses"]["openai-o3"][-1]["region"] == "eu-1"


def test_json_store__never_follows_a_symlinked_lock(sample_export, tmp_path):
    outside = tmp_path / "outside.txt"
    (sample_export / ".export.lock").symlink_to(outside)
    with pytest.raises(StoreNotWritable, match="symbolic link"):
        JsonStore(sample_export).apply(WRITE)
    assert not outside.exists()


def test_json_store__refuses_to_write_through_a_symlinked_export_file(sample_export, tmp_path):
    real = tmp_path / "real-status.json"
    (sample_export / "model-status.json").rename(real)
    (sample_export / "model-status.json").symlink_to(real)
    before = real.read_bytes()
    with pytest.raises(StoreNotWritable, match="does not write through links"):
        JsonStore(sample_export).apply(WRITE)
    assert (sample_export / "model-status.json").is_symlink()
    assert real.read_bytes() == before


def test_json_store__a_bare_array_models_json_stays_an_array(sample_export):
    models = json.loads((sample_export / "models.json").read_text())["models"]
    (sample_export / "models.json").write_text(json.dumps(models))
    record = dict(models[1], description="edited through the JSON store")
    JsonStore(sample_export).apply({"kind": "model", "record": record})
    JsonStore(sample_export).apply(WRITE)  # a status: its model is found in the array
    written = json.loads((sample_export / "models.json").read_text())
    assert isinstance(written, list) and len(written) == len(models)
    assert written[1]["description"] == "edited through the JSON store"
