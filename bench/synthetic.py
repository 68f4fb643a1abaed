"""A synthetic export of any size, written as a stream (benchmarks and tests).

The same ``seed`` always gives the same export; ``changed`` alters that fraction of statuses (the
same ones each time) and ``drop``/``extra`` remove or add statuses, so that two exports differ in a
known way.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

REGIONS = (
    "global",
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "sa-east-1",
)
STATUSES = ("operational",) * 7 + ("degraded", "outage", "unknown")


def write_export(
    directory: Path,
    *,
    statuses: int,
    models: int | None = None,
    providers: int = 50,
    seed: int = 1,
    changed: float = 0.0,
    drop: float = 0.0,
    extra: float = 0.0,
) -> dict:
    """Write providers.json, models.json and model-status.json; return what was written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    models = models or max(1, statuses // 50)
    per_model = max(1, statuses // models)
    rng = random.Random(seed)
    provider_slugs = [f"provider{p:04d}" for p in range(providers)]
    with open(directory / "providers.json", "w") as out:
        json.dump(
            [
                {
                    "id": f"00000000-0000-4000-8000-{p:012d}",
                    "slug": slug,
                    "name": f"Provider {p}",
                    "logoUrl": None,
                    "websiteUrl": f"https://{slug}.example.com",
                    "statusPageUrl": f"https://status.{slug}.example.com",
                    "documentationUrl": f"https://{slug}.example.com/docs",
                    "regions": list(REGIONS[1:4]),
                    "metadata": {"established": 2000 + p % 25, "type": "commercial"},
                }
                for p, slug in enumerate(provider_slugs)
            ],
            out,
        )
    model_slugs = []
    with open(directory / "models.json", "w") as out:
        out.write('{"metadata": {"version": "1.0", "generated": "2025-08-31T03:11:46.973Z", ')
        out.write('"source": "synthetic"}, "models": [')
        for m in range(models):
            provider = provider_slugs[m % providers]
            name = f"Model {m} v{m % 7}.{m % 3}"
            model_slugs.append(f"{provider}-model-{m}-v{m % 7}.{m % 3}")
            record = {
                "id": f"{1755301491198 + m}-synth{m:06d}",
                "name": name,
                "provider": {
                    "id": provider,
                    "name": f"Provider {m % providers}",
                    "website": f"https://{provider}.example.com",
                },
                "modalities": ["text", "image"] if m % 4 == 0 else ["text"],
                "capabilities": ["chat", "completion"],
                "contextWindow": (8192, 32768, 128000, 200000)[m % 4],
                "maxOutputTokens": 4096,
                "description": f"Synthetic model {m}.",
                "releasedAt": "2025-05-01T00:00:00Z",
                "isActive": m % 13 != 0,
                "tags": ["latest"] if m % 5 == 0 else [],
                "lastUpdate": "2025-08-31T03:11:46.860Z",
            }
            out.write(("," if m else "") + json.dumps(record))
        out.write("]}")
    written = changed_count = dropped = added = 0
    with open(directory / "model-status.json", "w") as out:
        out.write('{"version": "1.0.0", "lastUpdated": "2025-08-15T05:47:00.101Z", "statuses": {')
        for m, slug in enumerate(model_slugs):
            count = per_model if m < models - 1 else max(1, statuses - per_model * (models - 1))
            rows = []
            for r in range(count):
                row = {
                    "region": REGIONS[r] if r < len(REGIONS) else f"region-{r}",
                    "status": STATUSES[rng.randrange(len(STATUSES))],
                    "availability": round(rng.uniform(95, 100), 2),
                    "latencyP50": rng.randint(50, 200),
                    "latencyP95": rng.randint(200, 450),
                    "latencyP99": rng.randint(450, 900),
                    "errorRate": round(rng.random() * 0.2, 3),
                    "requestsPerMin": rng.randint(0, 9999),
                    "tokensPerMin": rng.randint(0, 999_999),
                    "usage": round(rng.random(), 3),
                    "checkedAt": "2025-08-14T13:02:45.715Z",
                }
                index = written + len(rows) + dropped
                if changed and _pick(index, changed, 1):
                    row["availability"] = round(row["availability"] - 1.5, 2)
                    changed_count += 1
                if drop and _pick(index, drop, 2):
                    dropped += 1
                    continue
                rows.append(row)
            if extra and _pick(m, extra * per_model, 3):
                rows.append(dict(rows[-1] if rows else {}, region="extra-region"))
                added += 1
            if not rows:
                continue
            out.write(("," if written else "") + json.dumps(slug) + ":" + json.dumps(rows))
            written += len(rows)
        out.write("}}")
    return {
        "providers": providers,
        "models": models,
        "statuses": written,
        "changed": changed_count,
        "dropped": dropped,
        "added": added,
    }


def _pick(index: int, fraction: float, salt: int) -> bool:
    """The same pseudo-random ``fraction`` of indexes every time."""
    return (index * 2654435761 + salt * 40503) % 100_000 < fraction * 100_000
