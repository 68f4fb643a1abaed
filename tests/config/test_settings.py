import pytest

from config.database import database_config, mask_url
from tests.conftest import ROOT, run_python

SHOW_SETTINGS = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({"engine": db["ENGINE"], "name": str(db["NAME"]),
                  "server_side": not db.get("DISABLE_SERVER_SIDE_CURSORS", False),
                  "options": db.get("OPTIONS", {}), "backend": settings.DATA_BACKEND}))
"""

PRODUCTION = {"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false"}


def load(env):
    return run_python(SHOW_SETTINGS, env={**PRODUCTION, "SECRET_KEY": "x" * 60, **env})


def test_missing_secret_key_in_production__fails_at_start_up_saying_what_to_set():
    result = run_python(SHOW_SETTINGS, env=PRODUCTION)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_mode__runs_without_a_secret_key():
    result = run_python(SHOW_SETTINGS, env={**PRODUCTION, "DEBUG": "true"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo://user:hunter2@host/db", "not a usable database URL"),
        ("postgres://user:hunter2@host:5432/", "names no database"),
    ],
)
def test_bad_database_url__fails_clearly_without_printing_the_password(url, message):
    result = load({"DATABASE_URL": url})
    assert result.returncode != 0
    assert message in result.stderr
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATA_BACKEND", "mongo"),
        ("JSON_EXPORT_URL", "ftp://example.com/export"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_invalid_values__fail_at_start_up(name, value):
    result = load({name: value})
    assert result.returncode != 0
    assert name in result.stderr


def test_default_database__is_sqlite_in_the_project():
    result = load({})
    assert result.returncode == 0, result.stderr
    assert '"engine": "django.db.backends.sqlite3"' in result.stdout
    assert "db.sqlite3" in result.stdout


def test_neon_url_with_sslmode__works_as_given():
    url = "postgres://owner:pw@ep-cool-1.eu-central-1.aws.neon.tech/neondb?sslmode=require"
    config = database_config(
        url, conn_max_age=60, conn_health_checks=True, pooled=False, pool=False
    )
    assert config["OPTIONS"]["sslmode"] == "require"
    assert config["HOST"] == "ep-cool-1.eu-central-1.aws.neon.tech"
    assert config["CONN_MAX_AGE"] == 60
    assert config["CONN_HEALTH_CHECKS"] is True
    assert not config.get("DISABLE_SERVER_SIDE_CURSORS")


@pytest.mark.parametrize(
    ("url", "pooled"),
    [
        (
            "postgres://o:pw@ep-cool-1-pooler.eu-central-1.aws.neon.tech/neondb?sslmode=require",
            False,
        ),
        ("postgres://o:pw@db.example.com/neondb", True),
    ],
)
def test_pooled_url__disables_server_side_cursors(url, pooled):
    config = database_config(
        url, conn_max_age=0, conn_health_checks=True, pooled=pooled, pool=False
    )
    assert config["DISABLE_SERVER_SIDE_CURSORS"] is True


def test_direct_url__is_used_when_asked_for():
    env = {
        "DATABASE_URL": "postgres://o:pw@ep-x-pooler.neon.tech/pooled_db",
        "DIRECT_URL": "postgres://o:pw@ep-x.neon.tech/direct_db",
    }
    app = load(env)
    operator = load({**env, "USE_DIRECT_URL": "true"})
    assert '"name": "pooled_db"' in app.stdout and '"server_side": false' in app.stdout
    assert '"name": "direct_db"' in operator.stdout and '"server_side": true' in operator.stdout


def test_mask_url__hides_only_the_password():
    assert mask_url("postgres://u:p@ss@h:5432/db") == "postgres://u:***@h:5432/db"
    assert mask_url("postgres://u@h/db") == "postgres://u@h/db"


def test_empty_values__mean_not_set():
    result = load({"DATABASE_URL": "", "DATA_BACKEND": "", "CONN_MAX_AGE": ""})
    assert result.returncode == 0, result.stderr
    assert "db.sqlite3" in result.stdout
    assert '"backend": "json"' in result.stdout


def test_manage_py__reports_a_configuration_error_plainly():
    result = run_python(
        "import runpy, sys; sys.argv = ['manage.py', 'check']; "
        "runpy.run_path('manage.py', run_name='__main__')",
        env={"DEBUG": "false"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Configuration error: SECRET_KEY is not set")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("BACKEND_STATE_TTL", "abc", "use a number of seconds, 0 or more"),
        ("WRITE_RETRY_SECONDS", "0", "use a number of seconds, more than 0"),
        ("JSON_EXPORT_TIMEOUT", "", None),  # empty: not set, the default applies
        ("JSON_EXPORT_TIMEOUT", "soon", "use a number of seconds, more than 0"),
        ("JSON_EXPORT_TTL", "nan", "use a number of seconds, 0 or more"),
        ("CONN_MAX_AGE", "1.5", "use a whole number of seconds, 0 or more"),
        ("SECURE_HSTS_SECONDS", "-1", "use a whole number of seconds, 0 or more"),
        ("DEBUG", "maybe", "use true or false"),
        ("DUAL_WRITE", "yes please", "use true or false"),
        ("DB_POOL", "2", "use true or false"),
        ("VERCEL", "sure", "use true or false"),
        ("CACHE_URL", "foo://x", "use a cache URL such as locmemcache://"),
        ("DATA_BACKEND", "Mongo", "use one of json, database"),
    ],
)
def test_invalid_environment_value__one_line_naming_variable_value_and_what_is_allowed(
    name, value, allowed
):
    result = run_python(
        "import runpy, sys; sys.argv = ['manage.py', 'check']; "
        "runpy.run_path('manage.py', run_name='__main__')",
        env={"DEBUG": "true", name: value},
    )
    if allowed is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1
    assert result.stderr.startswith(f"Configuration error: {name}={value!r} is not valid: ")
    assert allowed in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("value", "debug"), [("true", True), ("On", True), ("1", True), ("false", False), ("0", False)]
)
def test_debug__takes_the_usual_spellings(value, debug):
    result = run_python(
        "from django.conf import settings; print(settings.DEBUG)",
        env={"DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 60, "DEBUG": value},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(debug)


def test_manage_py_without_the_virtualenv__says_to_activate_it():
    import shutil
    import subprocess

    system_python = shutil.which("python3", path="/usr/bin:/bin")
    probe = subprocess.run([system_python, "-c", "import django"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the system Python has Django installed")
    result = subprocess.run(
        [system_python, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"Django is not installed for {system_python}: activate the project's virtualenv "
        "(`. .venv/bin/activate`, after `make .venv/.runtime`) or run `.venv/bin/python "
        "manage.py ...`.\n"
    )


def test_sentry__off_without_a_dsn_and_reports_to_it_when_set():
    import gzip
    import http.server
    import threading

    received = []

    class Sentry(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Sentry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    probe = (
        "import django, sentry_sdk; django.setup(); "
        "print(sentry_sdk.get_client().is_active()); "
        "sentry_sdk.capture_message('sentry-probe'); sentry_sdk.flush(5)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true"}
    try:
        off = run_python(probe, env=env)
        assert off.stdout.strip() == "False", off.stderr
        dsn = f"http://publickey@127.0.0.1:{server.server_port}/42"
        on = run_python(probe, env=env | {"SENTRY_DSN": dsn})
        assert on.stdout.strip() == "True", on.stderr
    finally:
        server.shutdown()
    assert len(received) == 1
    path, body = received[0]
    assert path == "/api/42/envelope/" and b"sentry-probe" in gzip.decompress(body)
