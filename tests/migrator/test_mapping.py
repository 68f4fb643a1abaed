import datetime as dt
import json
import random

import pytest

from catalog.serializers import STATUS_COLUMNS
from migrator import mapping
from tests.conftest import SAMPLE_DIR


@pytest.mark.parametrize(
    ("provider", "name", "slug"),
    [
        ("anthropic", "Claude 3.5 Sonnet", "anthropic-claude-3.5-sonnet"),
        ("openai", "GPT-4o mini", "openai-gpt-4o-mini"),
        ("openai", "GPT 4o", "openai-gpt-4o"),
        ("meta", "  Llama 3.1 (405B)!  ", "meta-llama-3.1-405b"),
        ("xai", "Grök--2", "xai-gr-k-2"),
        ("mistral", "...", "mistral-..."),
    ],
)
def test_derive_model_slug__follows_the_design_rule(provider, name, slug):
    assert mapping.derive_model_slug(provider, name) == slug


def load(name):
    return json.loads((SAMPLE_DIR / name).read_text())


def test_round_trip__every_sample_record_maps_back_to_itself():
    """Nothing is lost: unmap(map(record)) gives the record back (null and absent aside)."""
    providers = {p["slug"]: mapping.map_provider(p) for p in load("providers.json")}
    for record in load("providers.json"):
        assert mapping.unmap_provider(mapping.map_provider(record)) == record
    for record in load("models.json")["models"]:
        row = mapping.map_model(record)
        provider = providers.get(row["provider_slug"]) or mapping.map_embedded_provider(
            record["provider"]
        )
        back = mapping.unmap_model(row, provider)
        expected = {k: v for k, v in back.items() if v is not None and v != []} | {
            k: v for k, v in record.items()
        }
        assert _semantic(back) == _semantic(expected)
    for value in load("model-status.json")["statuses"].values():
        for record in value if isinstance(value, list) else [value]:
            try:
                row = mapping.map_status(record)
            except mapping.RecordError:
                continue  # the sample's deliberate reject
            back = mapping.unmap_status(row)
            # By rule, an absent region is "global" and an absent status (even {}) "unknown".
            defaults = {"region": row["region"], "status": row["status"]}
            assert _semantic(back) == _semantic(record | defaults)


def _semantic(record):
    """Absent == null; numbers by value; timestamps as instants."""
    out = {}
    for key, value in record.items():
        if value is None or value == []:
            continue
        if isinstance(value, str) and key.endswith(("At", "checkedAt")):
            value = mapping.parse_timestamp(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        out[key] = value
    return out


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ([], None, "a status must be a JSON object"),
        ({"status": "down"}, "status", "status must be one of"),
        ({"availability": 101}, "availability", "between 0 and 100"),
        ({"availability": True}, "availability", "must be a number"),
        ({"latencyP95": -1}, "latencyP95", "at least 0"),
        ({"requestsPerMin": 2.5}, "requestsPerMin", "whole number"),
        ({"checkedAt": 5}, "checkedAt", "ISO 8601"),
        ({"region": ""}, "region", "must not be empty"),
    ],
)
def test_map_status__names_the_field_it_rejects(record, field, reason):
    with pytest.raises(mapping.RecordError) as error:
        mapping.map_status(record)
    assert error.value.field == field
    assert reason in error.value.reason


def test_map_status__null_and_absent_are_the_same():
    assert mapping.map_status({"status": None}) == mapping.map_status({})
    assert mapping.map_status({})["status"] == "unknown"
    assert mapping.map_status({"region": None})["region"] == "global"


def test_map_model__timestamps_without_offset_are_utc_and_prices_exact():
    row = mapping.map_model(
        {
            "name": "X",
            "provider": {"id": "p"},
            "releasedAt": "2025-05-01T00:00:00",
            "inputPrice": 0.1,
            "isActive": None,
        }
    )
    assert row["released_at"] == dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
    assert str(row["input_price"]) == "0.1"
    assert row["is_active"] is True


def _random_status(rng: random.Random) -> dict:
    pool = {
        "status": ["operational", "degraded", "outage", "unknown", None, "down", 3],
        "availability": [99.5, 100, 0, 100.0001, -0.1, "99", None, True, float("nan")],
        "latencyP50": [83, 83.5, 0, -1, None, float("inf"), "fast"],
        "latencyP95": [169, 200.25, None],
        "latencyP99": [356, 1e308 * 10, None, False],
        "errorRate": [0.079, 0, -0.5, None],
        "requestsPerMin": [4201, 0, -3, 4201.0, 2.5, None, True],
        "tokensPerMin": [852804, None, "many"],
        "usage": [0.888, -2, None, 7],
        "checkedAt": [
            "2025-08-14T13:02:45.715Z",
            "2025-08-14T13:02:45+02:00",
            "2025-08-14",
            "nope",
            12,
            None,
        ],
        "region": ["global", "eu-west-1", None],
        "probe": [{"host": "x"}],
    }
    return {key: rng.choice(values) for key, values in pool.items() if rng.random() < 0.8}


def test_map_status__maps_or_names_the_field_for_any_record():
    """20,000 random records: each maps to a full row, or is rejected naming a field it has."""
    rng = random.Random(7)
    mapped = rejected = 0
    for _ in range(20_000):
        record = _random_status(rng)
        try:
            row = mapping.map_status(record)
        except mapping.RecordError as exc:
            assert exc.field in record, (record, exc.field)
            rejected += 1
            continue
        assert tuple(row) == STATUS_COLUMNS
        mapped += 1
    assert mapped > 100 and rejected > 100
