"""A messy export history (bench/history.py) replayed version by version: each with
``backfill_json --prune`` (``--force`` where the prune guard refuses) then
``validate_migration``; every step must exit 0 or 1 and validate. On SQLite and PostgreSQL.

HISTORY_VERSIONS (default 50) sets how many versions are replayed."""

import json
import os

import pytest

from bench.history import DEFAULT_VERSIONS, ZERO_MODELS_AT, write_version
from catalog.models import Model
from tests.conftest import command

pytestmark = pytest.mark.django_db(transaction=True)
VERSIONS = int(os.environ.get("HISTORY_VERSIONS", DEFAULT_VERSIONS))


def test_history__every_version_loads_and_validates(tmp_path):
    refused = []
    totals = {"rejected": 0, "merged": 0}
    for version in range(VERSIONS):
        export = tmp_path / f"v{version:03d}"
        held = write_version(export, version)
        code, out, err = command("backfill_json", str(export), "--prune", "--format", "json")
        if code == 2 and "prune refused" in err:
            refused.append(version)
            code, out, err = command(
                "backfill_json", str(export), "--prune", "--force", "--format", "json"
            )
        assert code <= 1, f"v{version}: {err}"
        report = json.loads(out)
        for key in totals:
            totals[key] += report["totals"][key]
        code, out, _ = command("validate_migration", str(export), "--format", "json")
        validation = json.loads(out)
        assert code == 0 and validation["passed"], (version, validation["differences"][:5])
        assert Model.objects.count() == held["rows"], version
    # The zero-model version was refused by the guard, and only it (then loaded with --force).
    assert refused == [v for v in (ZERO_MODELS_AT,) if v < VERSIONS]
    assert totals["merged"] > 0 and totals["rejected"] > 0
