import datetime as dt

import pytest

from tests.factories import make_model, make_provider, make_status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reads_from_database")]

ENVELOPE = {"timestamp", "dataSource", "cached", "fallbackReason"}


@pytest.fixture
def catalog():
    """Two providers, five models, statuses in several regions."""
    openai = make_provider("openai", name="OpenAI", website_url="https://openai.com")
    anthropic = make_provider("anthropic", name="Anthropic")
    models = {
        "gpt": make_model(
            openai,
            "GPT-4o",
            slug="openai-gpt-4o",
            modalities=["text", "image"],
            description="Omni model",
            context_window=128000,
        ),
        "mini": make_model(openai, "GPT-4o mini", slug="openai-gpt-4o-mini", context_window=8000),
        "whisper": make_model(
            openai,
            "Whisper",
            slug="openai-whisper",
            modalities=["audio"],
            capabilities=["transcription"],
            is_active=False,
        ),
        "sonnet": make_model(
            anthropic,
            "Claude 3.5 Sonnet",
            slug="anthropic-claude-3.5-sonnet",
            released_at=dt.datetime(2024, 6, 20, tzinfo=dt.UTC),
        ),
        "haiku": make_model(anthropic, "Claude 3.5 Haiku", slug="anthropic-claude-3.5-haiku"),
    }
    make_status(models["gpt"], "global", status="operational", availability=99.0)
    make_status(models["gpt"], "eu-west-1", status="outage", availability=50.0)
    make_status(models["mini"], status="degraded", availability=97.0)
    make_status(models["sonnet"], status="operational", availability=100.0)
    make_status(models["haiku"], "us-east-1", status="unknown", availability=None)
    return models


def get(client, url, **params):
    response = client.get(url, params)
    return response, response.json()


def test_models__envelope_and_embedded_provider(client, catalog):
    response, body = get(client, "/api/v1/models")
    assert response.status_code == 200
    assert set(body) == {"models", "total", "limit", "offset", "page", "totalPages"} | ENVELOPE
    assert body["dataSource"] == "database"
    assert body["fallbackReason"] is None
    assert (body["total"], body["limit"], body["offset"], body["page"], body["totalPages"]) == (
        5,
        50,
        0,
        1,
        1,
    )
    gpt = next(m for m in body["models"] if m["slug"] == "openai-gpt-4o")
    assert gpt["provider"] == {
        "id": "openai",
        "slug": "openai",
        "name": "OpenAI",
        "websiteUrl": "https://openai.com",
    }
    assert gpt["modalities"] == ["text", "image"]
    assert gpt["contextWindow"] == 128000


def test_models__headline_status_is_the_worst_region(client, catalog):
    _, body = get(client, "/api/v1/models", q="gpt-4o")
    gpt = next(m for m in body["models"] if m["slug"] == "openai-gpt-4o")
    assert gpt["status"]["status"] == "outage"
    assert gpt["status"]["region"] == "eu-west-1"
    assert gpt["availability"] == 50.0
    whisper_body = get(client, "/api/v1/models", q="whisper")[1]
    assert whisper_body["models"][0]["status"] is None


@pytest.mark.parametrize(
    ("statuses", "region"),
    [
        ({"global": "degraded", "eu-west-1": "degraded", "us-east-1": "operational"}, "global"),
        ({"us-east-1": "outage", "eu-west-1": "outage", "global": "degraded"}, "eu-west-1"),
        # Code point order between regions, as Python sorts: "Z" before "a".
        ({"a-region": "unknown", "Z-region": "unknown", "global": "operational"}, "Z-region"),
        ({"global": "operational", "ap-1": "operational"}, "global"),
    ],
)
def test_models__headline_ties_go_to_global_then_region_order(client, statuses, region):
    model = make_model(make_provider("p"), "M", slug="p-m")
    for name, value in statuses.items():
        make_status(model, name, status=value)
    listed = get(client, "/api/v1/models")[1]["models"][0]["status"]
    assert listed["region"] == region
    assert get(client, "/api/v1/models", status=listed["status"])[1]["total"] == 1
    assert get(client, "/api/v1/models/p-m")[1]["model"]["status"]["region"] == region


@pytest.mark.parametrize(
    ("limit", "offset", "on_page"),
    [(5, 0, 5), (10, 0, 5), (2, 4, 1), (2, 5, 0), (3, 3, 2), (1, 0, 1), (2, 100, 0)],
)
def test_models__total_is_right_on_every_page(client, catalog, limit, offset, on_page):
    """The last page tells the total without a count; the others count."""
    _, body = get(client, "/api/v1/models", limit=limit, offset=offset, ordering="-name")
    assert (len(body["models"]), body["total"]) == (on_page, 5)


def test_models__offset_past_the_end_is_an_empty_page(client, catalog):
    _, body = get(client, "/api/v1/models", offset=10)
    assert (body["models"], body["total"]) == ([], 5)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"provider": "anthropic"}, {"anthropic-claude-3.5-sonnet", "anthropic-claude-3.5-haiku"}),
        ({"provider": "nobody"}, set()),
        ({"status": "outage"}, {"openai-gpt-4o"}),
        ({"status": "degraded"}, {"openai-gpt-4o-mini"}),
        ({"status": "unknown"}, {"anthropic-claude-3.5-haiku"}),
        ({"modality": "image"}, {"openai-gpt-4o"}),
        ({"modality": "audio"}, {"openai-whisper"}),
        ({"capability": "transcription"}, {"openai-whisper"}),
        ({"isActive": "false"}, {"openai-whisper"}),
        ({"isActive": "true", "provider": "openai"}, {"openai-gpt-4o", "openai-gpt-4o-mini"}),
        ({"q": "omni"}, {"openai-gpt-4o"}),
        ({"search": "HAIKU"}, {"anthropic-claude-3.5-haiku"}),
        ({"q": "3.5-s"}, {"anthropic-claude-3.5-sonnet"}),
        ({"q": "%"}, set()),
        ({"q": "_"}, set()),
        ({"status": "operational"}, {"anthropic-claude-3.5-sonnet"}),
        ({"status": "outage", "provider": "anthropic"}, set()),
    ],
)
def test_models__filters(client, catalog, params, expected):
    response, body = get(client, "/api/v1/models", **params)
    assert response.status_code == 200
    assert {m["slug"] for m in body["models"]} == expected
    assert body["total"] == len(expected)


def test_models__pages_are_disjoint_stable_and_complete(client, catalog):
    seen = []
    for offset in range(0, 6, 2):
        _, body = get(client, "/api/v1/models", limit=2, offset=offset)
        assert body["page"] == offset // 2 + 1
        assert body["totalPages"] == 3
        seen += [m["slug"] for m in body["models"]]
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 5


@pytest.mark.parametrize(
    ("ordering", "first", "last"),
    [
        ("name", "anthropic-claude-3.5-haiku", "openai-whisper"),
        ("-name", "openai-whisper", "anthropic-claude-3.5-haiku"),
        ("-contextWindow", "openai-gpt-4o", None),
        ("releasedAt", "anthropic-claude-3.5-sonnet", None),
        ("-provider", "openai-gpt-4o", "anthropic-claude-3.5-sonnet"),
    ],
)
def test_models__ordering(client, catalog, ordering, first, last):
    _, body = get(client, "/api/v1/models", ordering=ordering)
    slugs = [m["slug"] for m in body["models"]]
    assert slugs[0] == first
    if last:
        assert slugs[-1] == last


def test_models__nulls_sort_last_both_ways(client, catalog):
    for ordering in ("contextWindow", "-contextWindow"):
        _, body = get(client, "/api/v1/models", ordering=ordering)
        windows = [m["contextWindow"] for m in body["models"]]
        assert windows[-3:] == [None, None, None]


def test_models__limit_above_the_maximum_is_clamped(client, catalog):
    _, body = get(client, "/api/v1/models", limit=1000)
    assert body["limit"] == 500


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"isActive": "maybe"}, "isActive"),
        ({"status": "down"}, "status"),
        ({"ordering": "price"}, "ordering"),
    ],
)
def test_models__bad_query_parameters_are_a_400_naming_the_field(client, catalog, params, field):
    response, body = get(client, "/api/v1/models", **params)
    assert response.status_code == 400
    assert body["error"] == "invalid query parameters"
    assert field in body["detail"]


def test_model_detail__statuses_by_region(client, catalog):
    response, body = get(client, "/api/v1/models/openai-gpt-4o")
    assert response.status_code == 200
    model = body["model"]
    assert body["dataSource"] == "database"
    assert [s["region"] for s in model["statuses"]] == ["global", "eu-west-1"]
    assert model["statuses"][0]["checkedAt"] == "2025-08-14T13:02:45.715Z"
    assert model["provider"]["slug"] == "openai"


def test_model_detail__unknown_slug_is_a_json_404(client, catalog):
    response, body = get(client, "/api/v1/models/nope")
    assert response.status_code == 404
    assert body == {"error": "not found", "detail": "no model with slug 'nope'"}


def test_model_detail__body_is_compact_utf8_json(client, catalog):
    provider = make_provider("mistral", name="Mistral")
    make_model(provider, "Modèle 通义", slug="mistral-modele", metadata={"note": "déjà"})
    response, body = get(client, "/api/v1/models/mistral-modele")
    assert (response.status_code, response["Content-Type"]) == (200, "application/json")
    assert body["model"]["name"] == "Modèle 通义"
    assert "Modèle 通义".encode() in response.content  # UTF-8, not \u escapes
    assert b'"slug":"mistral-modele"' in response.content


def test_model_detail__a_value_orjson_cannot_encode_is_sent_exactly(client, catalog):
    """An integer beyond 64 bits in a model's metadata: the standard library's encoder takes
    over, the value is exact, the answer is not a 500 (nor a fallback)."""
    provider = make_provider("bignum", name="Big")
    make_model(provider, "Big", slug="bignum-big", metadata={"big": 2**70, "text": "é"})
    response, body = get(client, "/api/v1/models/bignum-big")
    assert response.status_code == 200
    assert body["model"]["metadata"] == {"big": 2**70, "text": "é"}
    assert (body["dataSource"], body["fallbackReason"]) == ("database", None)


def test_providers__counts_and_average_availability(client, catalog):
    response, body = get(client, "/api/v1/providers")
    assert response.status_code == 200
    by_slug = {p["slug"]: p for p in body["providers"]}
    assert [p["slug"] for p in body["providers"]] == ["anthropic", "openai"]
    assert by_slug["openai"]["modelCount"] == 3
    assert by_slug["openai"]["activeModelCount"] == 2
    assert by_slug["openai"]["avgAvailability"] == round((99.0 + 50.0 + 97.0) / 3, 2)
    assert by_slug["anthropic"]["avgAvailability"] == 100.0
    assert body["dataSource"] == "database"


def test_status__totals(client, catalog):
    response, body = get(client, "/api/v1/status")
    assert response.status_code == 200
    assert body["dataSource"] == "database"
    assert {
        k: body[k]
        for k in (
            "totalProviders",
            "totalModels",
            "activeModels",
            "totalStatuses",
            "operational",
            "degraded",
            "outage",
            "unknown",
            "unmonitored",
        )
    } == {
        "totalProviders": 2,
        "totalModels": 5,
        "activeModels": 4,
        "totalStatuses": 5,
        "operational": 1,
        "degraded": 1,
        "outage": 1,
        "unknown": 1,
        "unmonitored": 1,
    }
    assert body["avgAvailability"] == round((99.0 + 50.0 + 97.0 + 100.0) / 4, 2)
    assert body["lastUpdate"] == "2025-08-14T13:02:45.715Z"


def test_status__empty_catalog(client):
    _, body = get(client, "/api/v1/status")
    assert body["totalModels"] == 0
    assert body["avgAvailability"] is None
    assert body["lastUpdate"] is None


def test_read_endpoints__refuse_writes(client, catalog):
    assert client.post("/api/v1/models").status_code == 405
