import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "data" / "sample"

IS_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
postgres_only = pytest.mark.skipif(
    not IS_POSTGRES, reason="needs PostgreSQL: set DATABASE_URL to a postgres:// URL"
)


def run_python(code: str, *, env: dict | None = None, timeout: float = 60):
    """Run ``code`` in a fresh interpreter at the project root, with ``env`` added to a minimal
    environment (none of this process's settings, no .env file); return the CompletedProcess."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    base.update({"ENV_FILE": "/nonexistent/.env", "PYTHONPATH": str(ROOT)})
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def admin_client_logged_in(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def sample_export(tmp_path):
    """A writable copy of the shipped sample export."""
    import shutil

    target = tmp_path / "export"
    shutil.copytree(SAMPLE_DIR, target, ignore=shutil.ignore_patterns("*.md"))
    return target


def command(name: str, *args, **options):
    """Run a management command; return (exit status, stdout, stderr) as a shell would see them."""
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out, err = StringIO(), StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err, **options)
    except CommandError as exc:
        err.write(str(exc))
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def scratch_database(tmp_path):
    """A factory of fresh, empty databases of the kind the suite runs on (for subprocesses);
    returns their URLs and drops them afterwards."""
    created = []

    def make() -> str:
        if not IS_POSTGRES:
            created.append(None)
            return f"sqlite:///{tmp_path / f'scratch{len(created)}.sqlite3'}"
        import uuid

        name = f"scratch_{uuid.uuid4().hex[:12]}"
        with _postgres_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _postgres_url(name)

    yield make
    for name in filter(None, created):
        with _postgres_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_params(name: str) -> dict:
    db = settings.DATABASES["default"]
    return {
        "host": db["HOST"] or None,
        "port": db["PORT"] or None,
        "user": db["USER"] or None,
        "password": db["PASSWORD"] or None,
        "dbname": name,
    }


def _postgres_admin():
    import psycopg

    return psycopg.connect(**_postgres_params("postgres"), autocommit=True)


def _postgres_url(name: str) -> str:
    db = settings.DATABASES["default"]
    user = db["USER"] or ""
    auth = f"{user}:{db['PASSWORD']}@" if db["PASSWORD"] else (f"{user}@" if user else "")
    return f"postgres://{auth}{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{name}"


def count_rows(database_url: str, table: str) -> int:
    """Rows in ``table`` of another database, read directly (not through this test's connection)."""
    if database_url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=5) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def manage(*args, database_url: str, timeout: float = 300, **popen):
    """Run ``manage.py`` in a subprocess against ``database_url`` (production-like settings)."""
    env = (
        {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        | {
            "ENV_FILE": "/nonexistent/.env",
            "DATABASE_URL": database_url,
            "DEBUG": "true",
            "PYTHONPATH": str(ROOT),
        }
        | popen.pop("env", {})
    )
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


@pytest.fixture(autouse=True)
def _fresh_backend_state():
    """Each test starts from the environment's backend state, not another test's cache."""
    from live import counters, runtime

    runtime.forget_state()
    counters.counters.reset()  # another test's traffic must not be written into this one's
    runtime.serving = False  # set again by the middleware of a test that serves requests
    yield
    runtime.forget_state()
    counters.counters.reset()


@pytest.fixture
def reads_from_database(settings):
    """Reads served by the database backend (the environment default is the JSON export)."""
    settings.DATA_BACKEND = "database"
