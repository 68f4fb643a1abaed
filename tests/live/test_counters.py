import pytest

from live import counters
from migrator.models import TrafficBucket

pytestmark = pytest.mark.django_db


def test_window__sums_every_workers_rows():
    first, second = counters.Counters(), counters.Counters()
    second._worker = "other-host:1:abc"  # another worker (or instance) of the service
    for seconds in (0.01, 0.02, 0.03):
        first.record("database", "status", 200, seconds)
    for _ in range(3):
        second.record("database", "status", 200, 0.04, error=True, fallback="database->json:x")
    assert first.flush() and second.flush()
    assert TrafficBucket.objects.values("worker").distinct().count() == 2
    window = counters.window("database", 60)
    assert (window.requests, window.errors) == (6, 3)
    assert window.error_rate == 0.5
    assert window.fallbacks == {"database->json:x": 3}
    assert counters.window("json", 60).requests == 0


def test_flush__writes_running_totals_so_repeating_it_counts_nothing_twice():
    worker = counters.Counters()
    worker.record("database", "status", 200, 0.01)
    worker.flush()
    worker._dirty |= set(worker._buckets)  # as if the same minute were written again
    worker.flush()
    worker.record("database", "status", 200, 0.01)
    worker.flush()
    assert counters.window("database", 60).requests == 2


def test_p95__is_the_upper_bound_of_the_bucket_holding_the_95th_percentile():
    worker = counters.Counters()
    for _ in range(94):
        worker.record("database", "models", 200, 0.004)
    for _ in range(6):
        worker.record("database", "models", 200, 2.5)
    worker.flush()
    assert counters.window("database", 60).p95_seconds == 3.0
    assert counters.percentile([0] * (len(counters.BOUNDS) + 1), 0.95) is None


def test_mismatches__are_counted_for_the_store():
    worker = counters.Counters()
    worker.record_mismatch("database")
    worker.flush()
    assert counters.window("database", 60).mismatches == 1


def test_minutes__per_minute_series_for_dashboards():
    worker = counters.Counters()
    worker.record("database", "models", 200, 0.02)
    worker.record("database", "models", 503, 0.02, error=True)
    worker.flush()
    [minute] = counters.minutes("database", 5)
    assert (minute["requests"], minute["errors"], minute["p95_seconds"]) == (2, 1, 0.025)
