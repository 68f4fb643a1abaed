import datetime as dt
import re

import pytest
from django.utils import timezone

from live import charts, counters, dashboard
from migrator.models import TrafficBucket

pytestmark = pytest.mark.django_db
URL = "/admin/migration-dashboard/"


def _minute(minutes_ago: int, store: str, requests: int, errors: int, slow: int = 0):
    latency = [0] * (len(counters.BOUNDS) + 1)
    latency[1] = requests - slow  # <= 10 ms
    latency[8] = slow  # <= 1 s
    TrafficBucket.objects.create(
        minute=counters.minute_of(timezone.now() - dt.timedelta(minutes=minutes_ago)),
        worker="w1",
        store=store,
        endpoint="status",
        requests=requests,
        errors=errors,
        latency=latency,
        fallbacks={f"{store}->database:json unavailable": errors} if errors else {},
    )


def test_dashboard__staff_only(client, django_user_model):
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    user = django_user_model.objects.create_user("clerk", password="pw")  # not staff
    client.force_login(user)
    assert client.get(URL).status_code == 302


def test_dashboard__state_targets_charts_and_audit(admin_client_logged_in, sample_export, settings):
    settings.JSON_EXPORT_DIR = sample_export
    _minute(3, "json", 120, 30)
    _minute(2, "database", 60, 0, slow=60)
    response = admin_client_logged_in.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 440 190"') == 4
    for title in (
        "p95 response time",
        "request rate",
        "error rate (reads the store failed)",
        "fallbacks away from the store",
    ):
        assert f'data-chart="{title}"' in page
    assert 'data-series="json"' in page or "<circle" in page
    assert "<strong>json</strong>" in page  # reads
    assert "Dual-write</th><td>off" in page
    assert "json over the last 5m: error rate 25.0% (30 of 120 reads) &gt; 1%" in page
    assert "database over the last 5m: p95 above 500 ms (bucket &lt;= 1000 ms)" in page
    assert "Latest validation</th><td>none" in page
    assert "style=" not in re.sub(r"<link[^>]*>", "", page.split('id="migration-dashboard"')[1])


def test_series__one_point_per_minute_across_workers_with_gaps_for_silence():
    _minute(10, "database", 60, 6)
    TrafficBucket.objects.create(  # another worker, same minute
        minute=counters.minute_of(timezone.now() - dt.timedelta(minutes=10)),
        worker="w2",
        store="database",
        endpoint="model-list",
        requests=60,
        errors=0,
        latency=[0] * (len(counters.BOUNDS) + 1),
        fallbacks={},
    )
    data = dashboard.series(minutes=60)
    assert len(data["rate"]["database"]) == 60
    point = 60 - 1 - 10
    assert data["rate"]["database"][point] == 2.0  # 120 reads in the minute
    assert data["errors"]["database"][point] == 5.0  # 6 of 120
    assert data["fallbacks"]["database"][point] == 6
    assert data["p95"]["database"][point] == 10.0
    assert data["p95"]["database"][point + 1] is None  # no reads: no latency invented
    assert data["rate"]["database"][point + 1] == 0.0
    assert set(data["rate"]["json"]) == {0.0}


def test_line_chart__scales_to_a_round_top_and_breaks_at_gaps():
    svg = charts.line_chart(
        "p95", "ms", {"json": [10, 20, None, 30, 35], "database": [None] * 5}, 5
    )
    assert svg.count("<polyline") == 2  # two runs: before and after the gap
    assert ">50</text>" in svg  # the axis' top: 35 rounds up to 50
    assert svg.startswith("<svg") and svg.endswith("</svg>")


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1.0), (0.3, 0.5), (7, 10), (12, 20), (230, 250), (1001, 2000)]
)
def test_nice_ceiling(value, top):
    assert charts.nice_ceiling(value) == top


def test_admin_index__links_to_the_dashboard(admin_client_logged_in):
    page = admin_client_logged_in.get("/admin/").content.decode()
    assert f'<a href="{URL}"><strong>Migration dashboard</strong></a>' in page
    assert "Site administration" in page  # the admin's own index is still there
