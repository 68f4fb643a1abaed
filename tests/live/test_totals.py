import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from live import counters, totals
from migrator.models import TrafficBucket, TrafficTotal
from tests.conftest import postgres_only

pytestmark = pytest.mark.django_db


def _bucket(minutes_ago: float, *, worker="w1", store="database", endpoint="status", n=1):
    minute = counters.minute_of(timezone.now() - dt.timedelta(minutes=minutes_ago))
    latency = [0] * (len(counters.BOUNDS) + 1)
    latency[3] = n
    return TrafficBucket.objects.create(
        minute=minute,
        worker=worker,
        store=store,
        endpoint=endpoint,
        requests=n,
        errors=1,
        seconds=0.04 * n,
        latency=latency,
        store_latency=latency,
        store_seconds=0.03 * n,
        statuses={"200": n - 1, "503": 1},
        fallbacks={"database->json:timeout": 1},
        mismatches=0,
    )


def _snapshot():
    return {
        key: (t.requests, t.errors, round(t.seconds, 6), t.latency, dict(t.statuses))
        for key, t in totals.lifetime().items()
    }


def test_lifetime__sums_every_worker_and_minute():
    _bucket(1, n=3)
    _bucket(1, worker="w2", n=4)
    _bucket(2, endpoint="model-list", n=5)
    found = totals.lifetime()
    assert found[("database", "status")].requests == 7
    assert found[("database", "status")].statuses == {"200": 5, "503": 2}
    assert found[("database", "model-list")].fallbacks == {"database->json:timeout": 1}


def test_fold__old_buckets_deleted_and_the_totals_stay_the_same():
    for minutes_ago, n in ((4 * 24 * 60, 3), (3 * 24 * 60, 4), (120, 5), (90, 6), (5, 7)):
        _bucket(minutes_ago, n=n)
    before = _snapshot()
    assert before[("database", "status")][0] == 25
    assert totals.fold() == 4  # every minute older than an hour
    assert _snapshot() == before  # moved to the totals: nothing went down, nothing doubled
    assert totals.fold() == 0  # the mark has not moved a minute: folding again changes nothing
    assert TrafficBucket.objects.count() == 5  # deleted only below a mark an earlier fold set
    assert totals.fold(now=timezone.now() + dt.timedelta(minutes=2)) == 0
    # The two minutes older than RETENTION are gone from the per-minute table...
    assert TrafficBucket.objects.count() == 3
    # ... and still counted in the totals.
    assert _snapshot() == before


def test_fold__later_minutes_folded_on_top_of_the_earlier_ones():
    _bucket(180, n=2)
    totals.fold()
    _bucket(55, n=3)  # a minute recent at the first fold, old at the next
    _bucket(1, n=4)
    before = _snapshot()
    later = timezone.now() + dt.timedelta(minutes=10)
    assert totals.fold(now=later) == 1
    assert _snapshot() == before
    assert TrafficTotal.objects.get(store="database").requests == 5


def test_fold__without_the_mark_every_bucket_counts_and_deletion_waits_for_it():
    # A very old row that was never folded: it is folded, then deleted, never lost.
    _bucket(5 * 24 * 60, n=9)
    assert totals.lifetime()[("database", "status")].requests == 9
    totals.fold()
    totals.fold(now=timezone.now() + dt.timedelta(minutes=1))
    assert not TrafficBucket.objects.exists()
    assert totals.lifetime()[("database", "status")].requests == 9


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_fold__concurrent_folds_count_each_minute_once():
    totals.fold(now=timezone.now() - dt.timedelta(hours=3))  # the mark exists: they all race
    for minutes_ago in range(70, 130):
        _bucket(minutes_ago, n=2)
    before = _snapshot()
    errors = []

    def fold():
        try:
            totals.fold()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=fold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _snapshot() == before
    assert TrafficTotal.objects.get(store="database").requests == 120
