import logging

import pytest
from django.test import Client

from live import counters, targets
from migrator.models import TargetBreach, TrafficBucket
from tests.conftest import command

pytestmark = pytest.mark.django_db


def _reads(store: str, n: int, seconds: float, *, failed: int = 0, worker: str = "w1"):
    recorder = counters.Counters()
    recorder._worker = worker
    for i in range(n):
        recorder.record(store, "status", 200, seconds, error=i < failed)
    assert recorder.flush()


def test_evaluate__a_quiet_service_is_within_every_target():
    _reads("json", 30, 0.01)
    _reads("database", 30, 0.02)
    document = targets.evaluate()
    assert document["ok"] and document["crossed"] == []
    assert document["stores"]["json"]["5m"] == {
        "requests": 30,
        "errors": 0,
        "errorRatePercent": 0.0,
        "p95Ms": 10.0,
        "judged": True,
        "ok": True,
    }


def test_evaluate__too_few_reads_are_not_judged():
    _reads("database", targets.MIN_REQUESTS - 1, 3.0, failed=5)
    document = targets.evaluate()
    assert document["ok"]
    assert document["stores"]["database"]["5m"]["judged"] is False


def test_evaluate__error_rate_p95_and_the_ratio_to_json_each_cross():
    _reads("json", 40, 0.02)
    _reads("database", 30, 0.02, failed=1)  # 3.3 %: one failure in 30 crosses 1 %
    _reads("database", 10, 0.9, worker="w2")  # another worker's slow reads: p95 in 1 s bucket
    names = {item["name"] for item in targets.evaluate()["crossed"]}
    assert names == {
        f"database:{measure}:{window}"
        for measure in ("error_rate", "p95", "p95_vs_json")
        for window in ("5m", "60m")
    }


def test_evaluate__database_twice_as_slow_as_json_crosses_only_the_ratio():
    _reads("json", 40, 0.02)  # bucket 25 ms
    _reads("database", 40, 0.08)  # bucket 100 ms: 4x, well under 500 ms
    crossed = targets.evaluate()["crossed"]
    assert [item["name"] for item in crossed] == [
        "database:p95_vs_json:5m",
        "database:p95_vs_json:60m",
    ]
    assert "4.0x JSON's" in crossed[0]["message"]


def test_evaluate__a_fast_database_is_not_judged_against_json():
    _reads("json", 40, 0.004)  # bucket 5 ms
    _reads("database", 40, 0.02)  # bucket 25 ms: 5x, but under the 50 ms floor
    assert targets.evaluate()["crossed"] == []


def test_check__one_alert_line_per_crossing_and_one_when_it_clears(caplog):
    _reads("json", 50, 0.01, failed=5)
    with caplog.at_level(logging.WARNING, logger="live.targets"):
        targets.check()
        targets.check()  # still crossed: no second line (nor from another worker: one row)
    alerts = [r.getMessage() for r in caplog.records if "event=alert " in r.getMessage()]
    assert alerts == [
        "event=alert target=json:error_rate:5m json over the last 5m: error rate 10.0% "
        "(5 of 50 reads) > 1%",
        "event=alert target=json:error_rate:60m json over the last 60m: error rate 10.0% "
        "(5 of 50 reads) > 1%",
    ]
    assert set(TargetBreach.objects.values_list("name", flat=True)) == {
        "json:error_rate:5m",
        "json:error_rate:60m",
    }
    caplog.clear()
    TrafficBucket.objects.all().delete()  # the failures age out of the windows
    with caplog.at_level(logging.WARNING, logger="live.targets"):
        targets.check()
    resolved = [r.getMessage() for r in caplog.records if "event=alert_resolved" in r.getMessage()]
    assert len(resolved) == 2 and not TargetBreach.objects.exists()


def test_status_command__shows_the_targets_and_what_is_crossed(sample_export, settings):
    settings.JSON_EXPORT_DIR = sample_export
    _reads("json", 40, 0.01)
    _reads("database", 40, 0.01, failed=2)
    targets.check()
    code, out, _ = command("switch_backend", "status")
    assert code == 0
    assert "targets:        p95 < 500 ms, error rate < 1%" in out
    assert "json:      5m: 40 reads, 0% failed, p95 <= 10 ms [ok]" in out
    assert "database:  5m: 40 reads, 5% failed, p95 <= 10 ms [CROSSED]" in out
    assert "CROSSED database:error_rate:5m: database over the last 5m: error rate 5.0%" in out
    assert "alert since" in out and "database:error_rate:60m" in out
    code, out, _ = command("switch_backend", "status", "--format", "json")
    document = __import__("json").loads(out)
    assert document["targets"]["stores"]["database"]["60m"]["errors"] == 2


def test_dual_write_stats__targets_for_monitors_and_staff_only(admin_client_logged_in):
    _reads("database", 30, 0.01, failed=3)
    anonymous = Client()
    assert anonymous.get("/api/v1/dual-write/stats").json()["targets"] is None
    monitor = anonymous.get(
        "/api/v1/dual-write/stats", headers={"Authorization": "Bearer test-status-token"}
    ).json()
    assert monitor["targets"]["stores"]["database"]["60m"]["requests"] == 30
    body = admin_client_logged_in.get("/api/v1/dual-write/stats").json()
    assert body["targets"]["stores"]["database"]["5m"]["errors"] == 3
    assert body["targets"]["crossed"][0]["name"] == "database:error_rate:5m"
