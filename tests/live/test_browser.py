"""The admin in a real browser under the Content-Security-Policy: Playwright drives Debian's
chromium against gunicorn (production settings, collected static files)."""

import os
import time

import pytest

from tests.conftest import manage
from tests.live.test_live import Catalog

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"
)
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-pw-123"  # a throwaway test account


@pytest.fixture
def admin_server(sample_export, tmp_path, scratch_database):
    catalog = Catalog(sample_export, tmp_path, scratch_database)
    static = str(tmp_path / "static")
    collected = manage(
        "collectstatic",
        "--noinput",
        "-v",
        "0",
        database_url=catalog.direct_url,
        env={"STATIC_ROOT": static, "DEBUG": "false", "SECRET_KEY": "x" * 60},
    )
    assert collected.returncode == 0, collected.stderr
    script = (
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_superuser('root', 'r@example.com', '{PASSWORD}')"
    )
    assert catalog.operator("shell", "-c", script).returncode == 0
    assert catalog.operator("switch_backend", "dual-write", "on", "--reason", "ui").returncode == 0
    server = catalog.server(
        tmp_path / "browser.log",
        STATIC_ROOT=static,
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
    )
    yield server
    server.stop()


def test_admin__renders_and_saves_under_the_csp_in_chromium(admin_server):
    from playwright.sync_api import sync_playwright

    violations = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page()
            page.on(
                "console",
                lambda message: (
                    violations.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            response = page.goto(admin_server.url + "/admin/login/?next=/admin/")
            assert "default-src 'self'" in response.headers["content-security-policy"]
            page.fill("#id_username", "root")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url("**/admin/")
            assert "Site administration" in page.content()
            # The admin's own stylesheet and script load (same origin): the page is styled.
            header = page.locator("#header")
            assert header.evaluate("e => getComputedStyle(e).display") != "inline"
            page.goto(admin_server.url + "/admin/catalog/modelstatus/?q=openai-o3")
            page.click("#result_list tbody tr a")
            page.select_option("#id_status", "outage")
            page.click("input[name=_save]")
            page.wait_for_selector(".messagelist .success")
            # The admin's JavaScript ran under the policy: the filter sidebar toggle exists.
            page.goto(admin_server.url + "/admin/migrator/deadletter/")
            assert page.locator("#changelist-form, .paginator").count() >= 1
        finally:
            browser.close()
    assert violations == []
    # An admin edit goes to the database first and reaches the JSON store (which reads still
    # come from) through the secondary write queue, drained once the admin's transaction commits.
    deadline = time.monotonic() + 30
    while True:
        _, body = admin_server.get("/api/v1/models/openai-o3")
        if body["model"]["status"]["status"] == "outage" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert body["model"]["status"]["status"] == "outage", admin_server.log_tail()


def test_dashboard__charts_state_and_a_failed_store_in_chromium(
    admin_server, sample_export, tmp_path
):
    from playwright.sync_api import sync_playwright

    for path in ("/api/v1/status", "/api/v1/models?limit=5", "/api/v1/providers") * 10:
        assert admin_server.get(path)[0] == 200
    away = sample_export.with_name("export.away")
    sample_export.rename(away)  # a real fault: the JSON store's files are gone
    try:
        for _ in range(40):
            assert admin_server.get("/api/v1/providers")[1]["dataSource"] == "database"
        violations = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1100})
                page.on(
                    "console",
                    lambda message: (
                        violations.append(message.text)
                        if "Content Security Policy" in message.text
                        else None
                    ),
                )
                page.goto(admin_server.url + "/admin/migration-dashboard/")
                page.wait_for_url("**/admin/login/**")  # staff only
                page.fill("#id_username", "root")
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url("**/admin/migration-dashboard/")
                # The counts reach the shared table within a second or two: reload until the
                # failure is on the page (within a minute).
                deadline = time.monotonic() + 60
                while "json over the last 5m: error rate" not in page.content():
                    assert time.monotonic() < deadline, "the failure never reached the dashboard"
                    time.sleep(1)
                    page.reload()
                assert page.locator("svg.chart").count() == 4
                for title in (
                    "p95 response time",
                    "request rate",
                    "error rate (reads the store failed)",
                    "fallbacks away from the store",
                ):
                    assert page.locator(f'svg[data-chart="{title}"]').is_visible()
                assert (
                    page.locator(
                        'svg[data-chart="request rate"] polyline, '
                        'svg[data-chart="request rate"] circle'
                    ).count()
                    >= 1
                )
                state = page.locator("#state").inner_text()
                assert "Reads\tjson" in state and "Dual-write\ton" in state
                crossed = page.locator("#targets .crossed").all_inner_texts()
                assert any(t.startswith("json over the last 5m: error rate") for t in crossed)
                assert "ui" in page.locator("#audit").inner_text()  # the dual-write's reason
                # The stylesheet loaded under the CSP (same origin): the panels are laid out.
                panels = page.locator("#migration-dashboard .panels")
                assert panels.evaluate("e => getComputedStyle(e).display") == "flex"
                page.screenshot(
                    path=os.environ.get("DASHBOARD_SCREENSHOT", str(tmp_path / "dashboard.png")),
                    full_page=True,
                )
            finally:
                browser.close()
        assert violations == []
    finally:
        away.rename(sample_export)
