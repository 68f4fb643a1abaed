"""The aggregates (status summary, providers) stay right through every kind of write: on
PostgreSQL they come from the per-model summary the triggers keep (migration 0005), which must
equal what the statuses themselves say."""

from collections import Counter, defaultdict

import pytest
from django.db import connection

from catalog import selectors, serializers
from catalog.aggregates import exact_mean
from catalog.models import Model, ModelStatus
from tests.conftest import postgres_only
from tests.factories import make_model, make_provider, make_status

pytestmark = pytest.mark.django_db


def expected() -> tuple[dict, dict]:
    """(headline counts, statuses, mean availability) and per-provider means, from the rows."""
    by_model = defaultdict(list)
    for row in ModelStatus.objects.values("model_id", "region", "status", "availability"):
        by_model[row["model_id"]].append(row)
    headlines = Counter(serializers.headline_status(rows)["status"] for rows in by_model.values())
    summary = {
        "totalStatuses": sum(len(rows) for rows in by_model.values()),
        "avgAvailability": exact_mean(
            r["availability"] for rows in by_model.values() for r in rows
        ),
        **{
            value: headlines.get(value, 0)
            for value in ("operational", "degraded", "outage", "unknown")
        },
    }
    providers = defaultdict(list)
    for model in Model.objects.select_related("provider"):
        providers[model.provider.slug] += [r["availability"] for r in by_model.get(model.id, [])]
    return summary, {slug: exact_mean(values) for slug, values in providers.items()}


def actual() -> tuple[dict, dict]:
    summary = selectors.status_summary()
    keys = ("totalStatuses", "avgAvailability", "operational", "degraded", "outage", "unknown")
    providers = {p["slug"]: p["avgAvailability"] for p in selectors.provider_list()}
    return {k: summary[k] for k in keys}, {k: v for k, v in providers.items() if k in ("a", "b")}


def test_aggregates__follow_every_kind_of_write():
    a, b = make_provider("a"), make_provider("b")
    m1, m2, m3 = make_model(a, "One"), make_model(a, "Two"), make_model(b, "Three")
    steps = [
        lambda: make_status(m1, "global", status="operational", availability=99.1),
        lambda: make_status(m1, "eu-west-1", status="outage", availability=0.3),
        lambda: ModelStatus.objects.bulk_create(
            [
                ModelStatus(model=m2, region=f"r{i}", status=s, availability=a_)
                for i, (s, a_) in enumerate(
                    [("degraded", 97.25), ("unknown", None), ("degraded", 12.0)]
                )
            ]
        ),
        lambda: make_status(m3, "global", status="unknown", availability=None),
        lambda: ModelStatus.objects.filter(model=m1, region="eu-west-1").update(
            status="operational", availability=100
        ),
        lambda: ModelStatus.objects.filter(model=m2).update(availability=33.333333),
        lambda: ModelStatus.objects.filter(model=m2, region="r0").update(model=m3),
        lambda: ModelStatus.objects.filter(model=m3).delete(),
        lambda: _raw("UPDATE catalog_modelstatus SET status = 'outage' WHERE region = 'r2'"),
        lambda: _raw("DELETE FROM catalog_modelstatus WHERE region = 'global'"),
    ]
    for number, step in enumerate(steps):
        step()
        assert actual() == expected(), f"after step {number}"


def _raw(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)


@postgres_only
@pytest.mark.django_db(transaction=True)  # TRUNCATE refuses pending (deferred) FK checks
def test_status_summary__truncate_empties_it():
    make_status(make_model(make_provider("a"), "One"), "global", availability=50.0)
    _raw("TRUNCATE catalog_modelstatus")
    assert actual() == expected()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM catalog_statussummary")
        assert cursor.fetchone()[0] == 0
