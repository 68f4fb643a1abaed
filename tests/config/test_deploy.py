"""Production: gunicorn with production settings on loopback, the release step, pooled URLs,
the hosts' configuration files, and `check --deploy`."""

import http.client
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from config.database import database_config
from tests.conftest import IS_POSTGRES, ROOT, count_rows, manage, postgres_only, run_python
from tests.servers import Server

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "false",
    "SECRET_KEY": "p" * 10 + "roduction-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "catalog.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://catalog.example.com",
}


def fetch(port, path, headers=None):
    """One request, redirects not followed: (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Host": "127.0.0.1", **(headers or {})})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


@pytest.fixture
def production_server(tmp_path, scratch_database, sample_export):
    url = scratch_database()
    assert manage("migrate", "-v", "0", database_url=url).returncode == 0
    static_root = tmp_path / "static"
    collected = manage(
        "collectstatic",
        "--noinput",
        "-v",
        "0",
        database_url=url,
        env={
            "STATIC_ROOT": str(static_root),
            "DEBUG": "false",
            "SECRET_KEY": PRODUCTION["SECRET_KEY"],
        },
    )
    assert collected.returncode == 0, collected.stderr
    server = Server(
        {
            "DATABASE_URL": url,
            "STATIC_ROOT": str(static_root),
            "SECURE_SSL_REDIRECT": "true",
            "JSON_EXPORT_DIR": str(sample_export),
        }
    )
    yield server
    server.stop()


@pytest.mark.live
def test_gunicorn_with_production_settings__serves_health_api_admin_and_static(
    production_server,
):
    port, https = production_server.port, {"X-Forwarded-Proto": "https"}
    status, _, body = fetch(port, "/healthz", {"Accept": "application/json"})
    assert status == 200, body
    assert set(json.loads(body).values()) == {"OK"}
    status, _, body = fetch(port, "/api/v1/status", https)
    assert status == 200 and json.loads(body)["dataSource"] == "json"
    status, headers, _ = fetch(port, "/admin/", https)
    assert status == 302 and headers["location"].startswith("/admin/login/")
    status, headers, body = fetch(port, "/admin/login/", https)
    assert status == 200
    css = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', body)
    assert css, "hashed static file names"
    status, headers, _ = fetch(port, css.group(1).decode(), https | {"Accept-Encoding": "gzip"})
    assert status == 200
    assert "max-age=315360000" in headers["cache-control"]
    assert headers.get("content-encoding") == "gzip"
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.live
def test_https_redirect__only_when_the_proxy_says_the_request_was_http(production_server):
    port = production_server.port
    status, headers, _ = fetch(port, "/api/v1/status", {"X-Forwarded-Proto": "http"})
    assert status == 301
    assert headers["location"] == "https://127.0.0.1/api/v1/status"
    status, _, _ = fetch(port, "/api/v1/status", {"X-Forwarded-Proto": "https"})
    assert status == 200
    # The platform's health probe comes over plain HTTP: not redirected.
    status, _, _ = fetch(port, "/healthz", {"X-Forwarded-Proto": "http"})
    assert status == 200


def procfile() -> dict:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_release__migrates_through_the_direct_url(scratch_database):
    pooled, direct = scratch_database(), scratch_database()
    env = {"DATABASE_URL": pooled, "DIRECT_URL": direct}
    steps = [shlex.split(step)[2:] for step in procfile()["release"].split("&&")]
    assert [step[0] for step in steps] == ["backup_db", "migrate", "check_schema"]
    for step in steps:
        result = manage(*step, database_url=pooled, env=env)
        assert result.returncode == 0, result.stderr
    assert count_rows(direct, "django_migrations") > 0
    with pytest.raises(Exception, match=r"django_migrations"):
        count_rows(pooled, "django_migrations")


@postgres_only
def test_pooled_url__disables_server_side_cursors_and_validation_still_streams(
    scratch_database, sample_export
):
    url = scratch_database()
    assert manage("migrate", "-v", "0", database_url=url).returncode == 0
    assert manage("backfill_json", str(sample_export), database_url=url).returncode == 1
    extra = "INSERT INTO catalog_provider (slug, name, source_id, regions, metadata, "
    extra += "source_hash, created_at, updated_at) VALUES ('acme', 'Acme', '', '[]', '{}', '', "
    extra += "now(), now())"
    subprocess.run(["psql", url, "-qc", extra], check=True)
    pooled = {"DATABASE_POOLED": "true"}
    shown = run_python(
        "import django; django.setup(); from django.db import connection; "
        "print(connection.settings_dict['DISABLE_SERVER_SIDE_CURSORS'])",
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "true",
            "DATABASE_URL": url,
            **pooled,
        },
    )
    assert shown.stdout.strip() == "True", shown.stderr
    result = manage(
        "validate_migration", str(sample_export), "--format", "json", database_url=url, env=pooled
    )
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert [(d["kind"], d["key"]) for d in document["differences"]] == [("extra", "acme")]
    assert document["entities"]["statuses"]["matched"] == 58


def test_db_pool__turns_on_psycopg_pool_and_refuses_a_pooled_url():
    from django.core.exceptions import ImproperlyConfigured

    config = database_config(
        "postgres://u:p@db.example.com/catalog",
        conn_max_age=60,
        conn_health_checks=True,
        pooled=False,
        pool=True,
    )
    assert config["OPTIONS"]["pool"] is True and config["CONN_MAX_AGE"] == 0
    with pytest.raises(ImproperlyConfigured, match="cannot be combined with a pooled"):
        database_config(
            "postgres://u:p@ep-x-pooler.neon.tech/db",
            conn_max_age=0,
            conn_health_checks=True,
            pooled=False,
            pool=True,
        )
    with pytest.raises(ImproperlyConfigured, match="needs a PostgreSQL"):
        database_config(
            "sqlite:///x.db", conn_max_age=0, conn_health_checks=True, pooled=False, pool=True
        )


def test_check_deploy__prints_no_warning_with_production_values():
    result = run_python(
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        env=PRODUCTION,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "WARNING" not in result.stderr + result.stdout


ENV_SOURCES = {"value", "generateValue", "sync", "fromDatabase", "fromService", "fromGroup"}


def test_render_blueprint__uses_only_documented_keys_and_valid_references():
    blueprint = yaml.safe_load((ROOT / "render.yaml").read_text())
    assert set(blueprint) <= {"services", "databases", "envVarGroups", "previews", "projects"}
    databases = {db["name"] for db in blueprint.get("databases", [])}
    service_keys = {
        "type",
        "name",
        "runtime",
        "plan",
        "region",
        "buildCommand",
        "startCommand",
        "preDeployCommand",
        "healthCheckPath",
        "envVars",
        "schedule",
        "numInstances",
        "autoDeploy",
        "rootDir",
    }
    web = [s for s in blueprint["services"] if s["type"] == "web"]
    assert len(web) == 1 and web[0]["healthCheckPath"] == "/healthz"
    assert "collectstatic" in web[0]["buildCommand"]
    assert "migrate" in web[0]["preDeployCommand"]
    assert "0.0.0.0:$PORT" in web[0]["startCommand"]
    for service in blueprint["services"]:
        assert set(service) <= service_keys, set(service) - service_keys
        assert service["type"] in {"web", "worker", "pserv", "cron"}
        assert service["runtime"] == "python"
        if service["type"] == "cron":
            assert len(service["schedule"].split()) == 5
            command = service["startCommand"].split()[0]
            assert (ROOT / command).exists() and (ROOT / command).stat().st_mode & 0o111
        for variable in service["envVars"]:
            sources = set(variable) - {"key"}
            assert len(sources) == 1 and sources <= ENV_SOURCES, variable
            if "fromDatabase" in variable:
                assert variable["fromDatabase"]["name"] in databases
                assert variable["fromDatabase"]["property"] == "connectionString"
            if "generateValue" in variable:
                assert variable["generateValue"] is True
            if "sync" in variable:
                assert variable["sync"] is False


def test_vercel_config__points_at_a_wsgi_module_exposing_app():
    config = json.loads((ROOT / "vercel.json").read_text())
    (build,) = config["builds"]
    assert build["use"] == "@vercel/python"
    module = Path(ROOT / build["src"])
    assert module.exists() and re.search(r"^app = application$", module.read_text(), re.M)
    assert all(route["dest"] == build["src"] for route in config["routes"])
    result = run_python(
        "import config.wsgi as w; print(w.app is w.application)",
        env={**PRODUCTION, "ALLOWED_HOSTS": "x.vercel.app"},
    )
    assert result.stdout.strip() == "True", result.stderr


def test_vercel__serves_static_files_without_collectstatic():
    result = run_python(
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.WHITENOISE_USE_FINDERS, settings.STORAGES['staticfiles']['BACKEND'], "
        "settings.WRITE_JOURNAL_DIR)",
        env={**PRODUCTION, "VERCEL": "1"},
    )
    use_finders, storage, journal = result.stdout.split()
    assert use_finders == "True" and storage.endswith("StaticFilesStorage")
    assert "Manifest" not in storage and journal.startswith("/tmp")


def test_operator_command_log__one_line_with_no_password(sample_export, tmp_path):
    import http.server
    import threading

    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(sample_export), **k
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    database = f"sqlite:///{tmp_path}/db.sqlite3"
    assert manage("migrate", "-v", "0", database_url=database).returncode == 0
    try:
        url = f"http://reader:s3cret-token@127.0.0.1:{httpd.server_address[1]}/"
        result = manage("backfill_json", url, database_url=database, env={"LOG_LEVEL": "info"})
    finally:
        httpd.shutdown()
    lines = [line for line in result.stderr.splitlines() if "event=backfill_finished" in line]
    assert len(lines) == 1, result.stderr
    assert "outcome=rejected" in lines[0] and "reader:***@127.0.0.1" in lines[0]
    assert "s3cret" not in result.stderr + result.stdout


@pytest.mark.skipif(not IS_POSTGRES, reason="the linter checks PostgreSQL's SQL")
def test_migrations__pass_the_linter():
    result = run_python(
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'lintmigrations'])",
        env={
            "DJANGO_SETTINGS_MODULE": "config.test_settings",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Erroneous migrations: 0/" in result.stdout
