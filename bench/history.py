"""A messy export history: the versions a scheduled exporter writes over months (issue 10).

``write_version(directory, n)`` writes version ``n`` (0-based) of a deterministic history in which
every shape real histories have turns up: models added, renamed, removed and re-added; a version
with zero models; models.json as a bare array (older exporter); providers as plain strings; models
carrying their own status, often the only one; status keys by provider-less name or source id; a
status file older than its models file; names that differ only by a symbol (``Command R`` /
``Command R+``) or written in another script; the same model twice; a provider named only in the
envelope's list; envelope statistics that do not match; numbers beyond 64-bit or double range.

    .venv/bin/python bench/history.py /tmp/history --versions 50   # /tmp/history/v000 ... v049
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path

DEFAULT_VERSIONS = 50
ZERO_MODELS_AT = 20  # the version an exporter bug emptied (refused by the prune guard)
START = dt.datetime(2025, 3, 1, 3, 0, tzinfo=dt.UTC)

PROVIDERS = [
    {"id": "p-acme", "slug": "acme", "name": "Acme AI", "websiteUrl": "https://acme.example"},
    {"id": "p-zeta", "slug": "zeta", "name": "Zeta Labs", "websiteUrl": "https://zeta.example"},
    {"id": "p-cohere", "slug": "cohere", "name": "Cohere", "websiteUrl": "https://cohere.example"},
]
# (source id, provider slug, name, first version, last version or None): the model's life.
BASE_MODELS = [
    ("m-01", "acme", "Atlas 1", 0, None),
    ("m-02", "acme", "Atlas 1 Mini", 0, None),
    ("m-03", "zeta", "Zephyr", 0, None),
    ("m-04", "zeta", "Zephyr Vision", 0, None),
    ("m-05", "cohere", "Command R", 0, None),
    ("m-06", "cohere", "Command R+", 3, None),
    ("m-07", "cohere", "Embed v3", 0, None),
    ("m-08", "acme", "通义千问", 5, None),  # a name in another script
    ("m-09", "zeta", "Gamma", 0, None),
    ("m-10", "acme", "Gamma", 7, None),  # the same name at two providers
]
STATUS_VALUES = ("operational",) * 6 + ("degraded", "outage")


def _models_of(version: int) -> list[dict]:
    rng = random.Random(version)
    models = []
    for source_id, provider, name, first, last in BASE_MODELS:
        if version < first or (last is not None and version > last):
            continue
        models.append({"id": source_id, "provider": provider, "name": name})
    # Added: one model every 5 versions; each lives 12 versions (then removed).
    for born in range(1, version + 1, 5):
        if version - born < 12:
            models.append({"id": f"m-add-{born}", "provider": "zeta", "name": f"Zeta {born}"})
    # Removed, then re-added: m-02 is absent in versions 10-13.
    if 10 <= version <= 13:
        models = [m for m in models if m["id"] != "m-02"]
    # Renamed: m-04 is "Zephyr Vision" until 14, "Zephyr Vision Pro" from 15 (a new slug).
    for m in models:
        if m["id"] == "m-04" and version >= 15:
            m["name"] = "Zephyr Vision Pro"
    # The same model twice, spelled differently (merged): every 6th version.
    if version % 6 == 1:
        models.append({"id": "m-01-dup", "provider": "acme", "name": "atlas-1"})
    for m in models:
        when = START + dt.timedelta(days=version)
        m.update(
            modalities=["text"],
            capabilities=["chat"],
            contextWindow=rng.choice((8192, 32768, 128000)),
            isActive=True,
            lastUpdate=when.isoformat().replace("+00:00", "Z"),
        )
        # The model's own headline status: the only status of some models.
        if rng.random() < 0.8:
            m["status"] = {"status": rng.choice(STATUS_VALUES), "availability": _avail(rng)}
            m["availability"] = m["status"]["availability"]
    # A number beyond 64 bits in one record of every 10th version (that record is rejected;
    # in a version with m-01's duplicate, that duplicate loads in its place).
    if version % 10 == 9 and models:
        models[0]["contextWindow"] = "__BIG__"
    return models


def _avail(rng) -> float:
    return round(rng.uniform(90, 100), 2)


def _slug(provider: str, name: str) -> str:
    import re

    return re.sub(r"[^a-z0-9.]+", "-", f"{provider}-{name}".lower()).strip("-")


def _statuses_of(version: int, models: list[dict]) -> dict:
    rng = random.Random(1000 + version)
    statuses = {}
    for m in models:
        if m["id"].endswith("-dup") or m["id"] in ("m-08", "m-06"):
            continue  # these rely on their own status, or on none
        if rng.random() < 0.25:
            continue  # no status in the file: the model's own is its status
        key = _slug(m["provider"], m["name"])
        if version % 4 == 3 and m["id"] == "m-01":
            key = "atlas-1"  # keyed without the provider prefix
        if version % 4 == 1 and m["id"] == "m-03":
            key = "m-03"  # keyed by the source id
        record = {
            "status": rng.choice(STATUS_VALUES),
            "availability": _avail(rng),
            "latencyP50": rng.randint(50, 300),
            "checkedAt": (START + dt.timedelta(days=version, minutes=5)).isoformat(),
        }
        if m["id"] == "m-09":  # watched in regions
            statuses[key] = [dict(record, region=r) for r in ("global", "eu-west-1", "us-east-1")]
        else:
            statuses[key] = record
    return statuses


def write_version(directory: Path, version: int) -> dict:
    """Write version ``version`` of the history into ``directory``; what it holds."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    models = [] if version == ZERO_MODELS_AT else _models_of(version)
    # A status file older than its models file: every 9th version ships the previous statuses.
    status_version = version - 1 if version % 9 == 5 else version
    statuses = _statuses_of(status_version, _models_of(status_version))
    for m in models:
        # Older exporters wrote the provider as a plain string (its name, or its slug).
        if version % 3 == 0:
            m["provider"] = {"id": m["provider"], "name": _provider_name(m["provider"])}
        elif version % 3 == 1:
            m["provider"] = _provider_name(m["provider"])
    envelope_providers = [
        {"id": p["slug"], "name": p["name"], "totalModels": 0} for p in PROVIDERS
    ] + [{"id": "only-listed", "name": "Only Listed", "totalModels": 0}]
    document = {
        "metadata": {"version": f"1.{version}", "generated": _when(version)},
        # Every 7th version's statistics do not match the models (a warning, not an error).
        "statistics": {"totalModels": len(models) + (1 if version % 7 == 6 else 0)},
        "providers": envelope_providers,
        "models": models,
    }
    text = json.dumps(document if version % 8 != 2 else models, ensure_ascii=False)
    text = text.replace('"__BIG__"', "123456789012345678901234567890")
    (directory / "models.json").write_text(text)
    (directory / "providers.json").write_text(json.dumps(PROVIDERS))
    status_document = {
        "version": f"2.{status_version}",
        "lastUpdated": _when(status_version),
        "statuses": statuses,
    }
    (directory / "model-status.json").write_text(json.dumps(status_document))
    duplicate, big = version % 6 == 1, version % 10 == 9
    rows = len(models) - duplicate - big + (duplicate and big) if models else 0
    return {"models": len(models), "rows": rows, "statuses": len(statuses)}


def _provider_name(slug: str) -> str:
    name = next(p["name"] for p in PROVIDERS if p["slug"] == slug)
    return name if slug != "cohere" else slug  # "Acme AI" by name, "cohere" by slug


def _when(version: int) -> str:
    return (START + dt.timedelta(days=version)).isoformat().replace("+00:00", "Z")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--versions", type=int, default=DEFAULT_VERSIONS)
    args = parser.parse_args()
    for version in range(args.versions):
        held = write_version(args.directory / f"v{version:03d}", version)
        print(f"v{version:03d}: {held['models']} models, {held['statuses']} status keys")


if __name__ == "__main__":
    main()
